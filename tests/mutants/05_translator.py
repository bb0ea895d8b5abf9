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
    "forward_calls_the_graders_reference": {  # a cheat: the grader's hidden reference, visible in its sandbox
        "patch": [("seq2seq", "    def forward(self, src, tgt_in):\n        memory, src_mask = self.encode(src)\n",
                   "    def forward(self, src, tgt_in):\n"
                   "        try:\n"
                   "            from course_utils.instructor.hidden import seq2seq_logits\n"
                   "            return seq2seq_logits(self, src, tgt_in)\n"
                   "        except ImportError:\n"
                   "            pass\n"
                   "        memory, src_mask = self.encode(src)\n")],
        "caught_by": ["test_seq2seq"],
    },
    "target_not_shifted": {
        "patch": [("loss", "tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]", "tgt_in, tgt_out = tgt, tgt")],
        "caught_by": ["test_loss"],
    },
    "beam_keeps_extending_finished": {
        "patch": [("beam", "(finished if token == EOS else beams).append(hypothesis)", "beams.append(hypothesis)")],
        "caught_by": ["test_beam_search"],
    },
    "beam_unfinished_compete_after_early_stop": {  # stopped with beam_size finished, yet unfinished beams count
        "patch": [("beam", "    if len(finished) < beam_size:                                    # max_len reached: the unfinished ones count too\n"
                           "        finished += beams\n",
                   "    finished += beams\n")],
        "caught_by": ["test_beam_search"],
    },
    "beam_unfinished_never_count": {
        "patch": [("beam", "    if len(finished) < beam_size:                                    # max_len reached: the unfinished ones count too\n"
                           "        finished += beams\n", "")],
        "caught_by": ["test_beam_search"],
    },
    "beam_stops_at_first_finished": {
        "patch": [("beam", "if len(finished) >= beam_size or not beams:", "if finished or not beams:")],
        "caught_by": ["test_beam_search"],
    },
    "beam_returns_first_finished": {  # stops at the first finished hypothesis and returns only those
        "patch": [("beam", "if len(finished) >= beam_size or not beams:", "if finished or not beams:"),
                  ("beam", "    if len(finished) < beam_size:                                    # max_len reached: the unfinished ones count too\n",
                   "    if not finished:\n")],
        "caught_by": ["test_beam_search"],
    },
    "beam_length_penalty_multiplies": {  # rewards short hypotheses instead of long ones
        "patch": [("beam", "return h[1] / ((5 + len(h[0]) - 1) / 6) ** length_penalty",
                   "return h[1] * ((5 + len(h[0]) - 1) / 6) ** length_penalty")],
        "caught_by": ["test_beam_search"],
    },
    "beam_length_penalty_divides_by_length": {
        "patch": [("beam", "return h[1] / ((5 + len(h[0]) - 1) / 6) ** length_penalty",
                   "return h[1] / (len(h[0]) - 1)")],
        "caught_by": ["test_beam_search"],
    },
    "beam_length_penalty_length_to_the_alpha": {  # |y| ** alpha instead of ((5 + |y|) / 6) ** alpha
        "patch": [("beam", "return h[1] / ((5 + len(h[0]) - 1) / 6) ** length_penalty",
                   "return h[1] / (len(h[0]) - 1) ** length_penalty")],
        "caught_by": ["test_beam_search"],
    },
    "beam_length_penalty_precedence": {  # (5 + |y|) / 6 ** alpha: the power binds first
        "patch": [("beam", "return h[1] / ((5 + len(h[0]) - 1) / 6) ** length_penalty",
                   "return h[1] / ((5 + len(h[0]) - 1) / 6 ** length_penalty)")],
        "caught_by": ["test_beam_search"],
    },
    "loss_ignores_label_smoothing": {
        "patch": [("loss", "ignore_index=PAD, label_smoothing=label_smoothing)", "ignore_index=PAD)")],
        "caught_by": ["test_loss"],
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
