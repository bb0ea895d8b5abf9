"""Realistic wrong answers for notebook 05. Each must lose the points of the tests named."""

MUTANTS = {
    "decoder_not_causal": {
        "patch": [("masks", "causal = torch.ones(T, T, dtype=torch.bool, device=tgt.device).tril()",
                   "causal = torch.ones(T, T, dtype=torch.bool, device=tgt.device)")],
        "caught_by": ["test_masks", "test_seq2seq"],
    },
    "padding_not_masked": {
        "patch": [("masks", "return (src != PAD)[:, None, None, :]", "return (src >= 0)[:, None, None, :]")],
        "caught_by": ["test_masks", "test_seq2seq"],
    },
    "cross_attention_on_decoder_states": {
        "patch": [("decoder_layer", "y, A = self.cross_attn(self.norm2(x), memory, src_mask, need_weights)",
                   "y, A = self.cross_attn(self.norm2(x), self.norm2(x), None, need_weights)")],
        "caught_by": ["test_decoder_layer"],
    },
    "target_not_shifted": {
        "patch": [("loss", "tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]", "tgt_in, tgt_out = tgt, tgt")],
        "caught_by": ["test_loss"],
    },
    "beam_keeps_extending_finished": {
        "patch": [("beam", "(finished if token == EOS else beams).append(hypothesis)", "beams.append(hypothesis)")],
        "caught_by": ["test_beam_search"],
    },
    "perplexity_over_padding": {
        "patch": [("loss", "        count += n\n", "        count += tgt[:, 1:].numel()\n")],
        "caught_by": ["test_loss"],
    },
    "seed_translator_ignores_padding": {
        "patch": [("translator", '        scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))\n', "")],
        "caught_by": ["test_translator"],
    },
    "greedy_ignores_eos": {
        "patch": [("greedy", "        next_id = torch.where(done, torch.full_like(next_id, PAD), next_id)  # finished sentences only pad\n", ""),
                  ("greedy", "        out.append(row[:row.index(EOS)] if EOS in row else [t for t in row if t != PAD])",
                   "        out.append([t for t in row if t not in (PAD, EOS)])")],
        "caught_by": ["test_greedy"],
    },
}
