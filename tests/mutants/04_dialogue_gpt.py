"""Realistic wrong answers for notebook 04. Each must lose the points of the tests named."""

MUTANTS = {
    "loss_not_shifted": {
        "patch": [("dialogue_loss", "predictions = logits[:, :-1]", "predictions = logits"),
                  ("dialogue_loss", "targets = input_ids[:, 1:]", "targets = input_ids"),
                  ("dialogue_loss", "real = input_mask[:, 1:].bool()", "real = input_mask.bool()")],
        "caught_by": ["test_dialogue_loss"],
    },
    "loss_shifted_the_wrong_way": {
        "patch": [("dialogue_loss", "predictions = logits[:, :-1]", "predictions = logits[:, 1:]"),
                  ("dialogue_loss", "targets = input_ids[:, 1:]", "targets = input_ids[:, :-1]")],
        "caught_by": ["test_dialogue_loss"],
    },
    "padding_supervised": {
        "patch": [("dialogue_loss", "targets = targets.masked_fill(~real, -100)", "targets = targets")],
        "caught_by": ["test_dialogue_loss"],
    },
    "start_token_supervised": {
        "patch": [("dialogue_loss", "predictions = logits[:, :-1]", "predictions = torch.cat([logits[:, :1], logits[:, :-1]], 1)"),
                  ("dialogue_loss", "targets = input_ids[:, 1:]", "targets = input_ids"),
                  ("dialogue_loss", "real = input_mask[:, 1:].bool()", "real = input_mask.bool()")],
        "caught_by": ["test_dialogue_loss"],
    },
    "causal_mask_transposed": {
        "patch": [("dialogue_gpt", ".tril(diagonal=past)", ".triu()")],
        "caught_by": ["test_dialogue_gpt"],
    },
    "causal_mask_missing": {
        "patch": [("dialogue_gpt", "x = block(x, attn_mask=mask, cache=cache)", "x = block(x, cache=cache)")],
        "caught_by": ["test_dialogue_gpt"],
    },
    "positional_embedding_missing": {
        "patch": [("dialogue_gpt", "x = self.tok_emb(input_ids) + self.pos_emb(positions)", "x = self.tok_emb(input_ids)")],
        "caught_by": ["test_dialogue_gpt"],
    },
    "top_p_excludes_boundary": {
        "patch": [("filters", "keep_sorted = before < p ", "keep_sorted = sorted_probs.cumsum(dim=-1) < p ")],
        "caught_by": ["test_filters", "test_sample_next"],
    },
    "top_p_not_renormalised": {
        "patch": [("filters", "    kept = probs * keep\n    return kept / kept.sum(dim=-1, keepdim=True)",
                   "    return probs * keep")],
        "caught_by": ["test_filters"],
    },
    "kv_cache_wrong_position_offset": {
        "patch": [("dialogue_gpt", "positions = torch.arange(past, past + T, device=input_ids.device)",
                   "positions = torch.arange(T, device=input_ids.device)")],
        "caught_by": ["test_kv_cache"],
    },
    "tokenizer_forgets_start": {
        "patch": [("tokenizer", "return [self.start_id] + [self.stoi.get(word, self.unk_id)", "return [self.stoi.get(word, self.unk_id)")],
        "caught_by": ["test_tokenizer"],
    },
    "tokenizer_unknown_to_pad": {
        "patch": [("tokenizer", "self.stoi.get(word, self.unk_id)", "self.stoi.get(word, self.pad_id)")],
        "caught_by": ["test_tokenizer"],
    },
}
