"""Realistic wrong answers for notebook 02. Each must lose the points of the tests named.

A mutant patches the solution notebook: in solution cell `cell`, `old` is replaced by `new`
(`old` must occur exactly once).
"""

MASK_FILL = 'scores = scores.masked_fill(attn_mask == 0, float("-inf"))'

MUTANTS = {
    # ---- AttentionHead
    "head_no_sqrt_scale": {
        "patch": [("attention_head", " / math.sqrt(self.attn_dim)", "")],
        "caught_by": ["test_attention_head", "test_attention_head_mask", "test_mha_loop"],
    },
    "head_mask_fills_zero": {  # a masked score of 0 still gets weight exp(0) > 0
        "patch": [("attention_head", MASK_FILL, "scores = scores.masked_fill(attn_mask == 0, 0.0)")],
        "caught_by": ["test_attention_head_mask", "test_mha_loop"],
    },
    "head_mask_after_softmax": {
        "patch": [("attention_head",
                   MASK_FILL + "  # weight exactly 0 after the softargmax\n        A = softargmax(scores, dim=-1)",
                   "pass\n        A = softargmax(scores, dim=-1)\n        if attn_mask is not None:\n"
                   "            A = A * (attn_mask != 0)")],
        "caught_by": ["test_attention_head_mask", "test_mha_loop"],
    },
    "head_softmax_over_queries": {
        "patch": [("attention_head", "softargmax(scores, dim=-1)", "softargmax(scores, dim=-2)")],
        "caught_by": ["test_attention_head", "test_attention_head_mask", "test_mha_loop"],
    },
    "head_scores_K_Qt": {
        "patch": [("attention_head", "q @ k.transpose(-2, -1)", "k @ q.transpose(-2, -1)")],
        "caught_by": ["test_attention_head", "test_attention_head_mask", "test_mha_loop"],
    },
    "head_uses_torch_softmax": {  # right numbers, forbidden shortcut: only the hidden tests see it
        "patch": [("attention_head", "A = softargmax(scores, dim=-1)", "A = torch.softmax(scores, dim=-1)")],
        "caught_by": ["test_attention_head", "test_attention_head_mask", "test_mha_loop"],
    },
    # ---- MultiHeadedAttentionLoop
    "loop_heads_interleaved": {
        "patch": [("mha_loop", "torch.cat(outs, dim=-1)", "torch.stack(outs, dim=-1).flatten(-2)")],
        "caught_by": ["test_mha_loop"],
    },
    "loop_without_W_O": {
        "patch": [("mha_loop", "return self.W_O(out), torch.stack(maps, dim=1)", "return out, torch.stack(maps, dim=1)")],
        "caught_by": ["test_mha_loop"],
    },
    # ---- MultiHeadedAttention (vectorized)
    "mha_no_sqrt_scale": {
        "patch": [("mha", "q = split_heads(self.W_Q(x)) / math.sqrt(d_k)", "q = split_heads(self.W_Q(x))")],
        "caught_by": ["test_mha", "test_mha_mask", "test_mha_bias", "test_attention_residual", "test_transformer"],
    },
    "mha_heads_split_in_wrong_order": {
        "patch": [("mha", "return t.view(B, T, h, d_k).transpose(1, 2)", "return t.view(B, h, T, d_k)")],
        "caught_by": ["test_mha", "test_mha_mask", "test_mha_bias", "test_attention_residual", "test_transformer"],
    },
    "mha_heads_merged_without_transpose": {
        "patch": [("mha", "(A @ v).transpose(1, 2).reshape(B, T, h * d_k)", "(A @ v).reshape(B, T, h * d_k)")],
        "caught_by": ["test_mha", "test_mha_mask", "test_mha_bias", "test_attention_residual", "test_transformer"],
    },
    "mha_without_W_O": {
        "patch": [("mha", "return self.W_O(out), A", "return out, A")],
        "caught_by": ["test_mha", "test_mha_mask", "test_mha_bias", "test_attention_residual", "test_transformer"],
    },
    "mha_mask_fills_zero": {
        "patch": [("mha", MASK_FILL, "scores = scores.masked_fill(attn_mask == 0, 0.0)")],
        "caught_by": ["test_mha", "test_mha_mask", "test_mha_bias", "test_attention_residual", "test_transformer"],
    },
    "mha_mask_after_softmax": {
        "patch": [("mha", MASK_FILL + "\n        A = softargmax(scores, dim=-1)",
                   "pass\n        A = softargmax(scores, dim=-1)\n        if attn_mask is not None:\n"
                   "            A = A * (attn_mask != 0)")],
        "caught_by": ["test_mha", "test_mha_mask", "test_mha_bias", "test_attention_residual", "test_transformer"],
    },
    "mha_batched_mask_not_broadcast_over_heads": {
        "patch": [("mha", "            if attn_mask.dim() == 3:\n                attn_mask = attn_mask.unsqueeze(1)"
                          "             # (B, 1, T, T): the same mask for every head\n", "")],
        "caught_by": ["test_mha", "test_mha_mask"],
    },
    "mha_ignores_attn_bias": {
        "patch": [("mha", "scores = scores + attn_bias", "scores = scores")],
        "caught_by": ["test_mha_bias"],
    },
    "mha_loops_over_heads": {  # right numbers, but not vectorized
        "patch": [("mha", "A = softargmax(scores, dim=-1)",
                   "A = torch.stack([softargmax(scores[:, i], dim=-1) for i in range(h)], dim=1)")],
        "caught_by": ["test_mha"],
    },
    "mha_calls_the_checks_reference": {  # a cheat: the published test helper built on nn.MultiheadAttention
        "patch": [("mha", "        h, d_k = self.num_heads, self.attn_dim\n",
                   "        h, d_k = self.num_heads, self.attn_dim\n"
                   "        if h * d_k >= x.shape[-1]:\n"
                   "            return checks.reference_mha(x, self.W_Q.weight.T, self.W_K.weight.T, self.W_V.weight.T,\n"
                   "                                        self.W_O.weight.T, h, attn_mask, attn_bias)\n")],
        "caught_by": ["test_mha", "test_mha_mask", "test_mha_bias", "test_attention_residual", "test_transformer"],
    },
    "mha_uses_sdpa": {  # right numbers through F.scaled_dot_product_attention: only the hidden tests see it
        "patch": [("mha", "out = (A @ v).transpose(1, 2)",
                   "out = F.scaled_dot_product_attention(torch.zeros_like(q), k, v, attn_mask=scores).transpose(1, 2)")],
        "caught_by": ["test_mha", "test_mha_mask", "test_mha_bias", "test_attention_residual", "test_transformer"],
    },
    # ---- FFN, AttentionResidual, Transformer
    "ffn_relu_instead_of_gelu": {
        "patch": [("ffn", "self.fc2(F.gelu(", "self.fc2(F.relu(")],
        "caught_by": ["test_ffn", "test_attention_residual", "test_transformer"],
    },
    "ffn_no_activation": {
        "patch": [("ffn", "self.fc2(F.gelu(self.fc1(x)))", "self.fc2(self.fc1(x))")],
        "caught_by": ["test_ffn", "test_attention_residual", "test_transformer"],
    },
    "ffn_tanh_gelu": {
        "patch": [("ffn", "self.fc2(F.gelu(self.fc1(x)))", 'self.fc2(F.gelu(self.fc1(x), approximate="tanh"))')],
        "caught_by": ["test_ffn"],
    },
    "post_norm_instead_of_pre_norm": {
        "patch": [("attention_residual", "self.attn(self.norm1(x), attn_mask, attn_bias)", "self.attn(x, attn_mask, attn_bias)"),
                  ("attention_residual", "x = x + a ", "x = self.norm1(x + a) "),
                  ("attention_residual", "x = x + self.ffn(self.norm2(x))", "x = self.norm2(x + self.ffn(x))")],
        "caught_by": ["test_attention_residual", "test_transformer"],
    },
    "attention_residual_missing": {
        "patch": [("attention_residual", "x = x + a ", "x = a ")],
        "caught_by": ["test_attention_residual", "test_transformer"],
    },
    "ffn_residual_missing": {
        "patch": [("attention_residual", "x = x + self.ffn(self.norm2(x))", "x = self.ffn(self.norm2(x))")],
        "caught_by": ["test_attention_residual", "test_transformer"],
    },
    "block_ignores_mask": {
        "patch": [("attention_residual", "self.attn(self.norm1(x), attn_mask, attn_bias)", "self.attn(self.norm1(x))")],
        "caught_by": ["test_attention_residual", "test_transformer"],
    },
    "layers_share_weights": {
        "patch": [("transformer", "nn.ModuleList([AttentionResidual(dim, attn_dim, mlp_dim, num_heads) for _ in range(num_layers)])",
                   "nn.ModuleList([AttentionResidual(dim, attn_dim, mlp_dim, num_heads)] * num_layers)")],
        "caught_by": ["test_transformer"],
    },
    "no_final_layernorm": {
        "patch": [("transformer", "return self.norm(x), maps", "return x, maps")],
        "caught_by": ["test_transformer"],
    },
    "transformer_ignores_mask": {
        "patch": [("transformer", "x, A = layer(x, attn_mask, attn_bias)", "x, A = layer(x)")],
        "caught_by": ["test_transformer"],
    },
    # ---- positions
    "equivariance_output_not_reordered": {
        "patch": [("equivariance_error", "- f(x)[:, perm]).abs()", "- f(x)).abs()")],
        "caught_by": ["test_equivariance"],
    },
    "equivariance_inverse_permutation": {
        "patch": [("equivariance_error", "- f(x)[:, perm]).abs()", "- f(x)[:, perm.argsort()]).abs()")],
        "caught_by": ["test_equivariance"],
    },
    "sinusoidal_sin_cos_concatenated": {
        "patch": [("sinusoidal", "pe[:, 0::2] = torch.sin(t * w)", "pe[:, :dim // 2] = torch.sin(t * w)"),
                  ("sinusoidal", "pe[:, 1::2] = torch.cos(t * w)", "pe[:, dim // 2:] = torch.cos(t * w)")],
        "caught_by": ["test_sinusoidal"],
    },
    "sinusoidal_wrong_exponent": {
        "patch": [("sinusoidal", "-torch.arange(0, dim, 2, dtype=torch.float64) / dim",
                   "-torch.arange(0, dim // 2, dtype=torch.float64) / dim")],
        "caught_by": ["test_sinusoidal"],
    },
    "sinusoidal_cos_sin_swapped": {
        "patch": [("sinusoidal", "pe[:, 0::2] = torch.sin(t * w)", "pe[:, 0::2] = torch.cos(t * w)"),
                  ("sinusoidal", "pe[:, 1::2] = torch.cos(t * w)", "pe[:, 1::2] = torch.sin(t * w)")],
        "caught_by": ["test_sinusoidal"],
    },
    "sinusoidal_returns_float64": {  # computed in float64 and never converted: later layers fail on the dtype
        "patch": [("sinusoidal", "    return pe.float()\n", "    return pe\n")],
        "caught_by": ["test_sinusoidal"],
    },
    "learned_pe_not_sliced": {
        "patch": [("learned_pe", "x + self.pos[:T]", "x + self.pos")],
        "caught_by": ["test_learned_pe"],
    },
    "alibi_slopes_start_at_one": {
        "patch": [("alibi", "torch.arange(1, num_heads + 1)", "torch.arange(num_heads)")],
        "caught_by": ["test_alibi"],
    },
    "alibi_rewards_distance": {
        "patch": [("alibi", "return -slopes[:, None, None] * distance", "return slopes[:, None, None] * distance")],
        "caught_by": ["test_alibi"],
    },
    # ---- constructions
    "identity_margin_too_small": {
        "patch": [("identity_weights", "D, d_k, margin = c + T, max(c, T), 40.0", "D, d_k, margin = c + T, max(c, T), 1.0")],
        "caught_by": ["test_identity"],
    },
    "permutation_inverted": {
        "patch": [("permutation_weights", "torch.eye(T)[perm]", "torch.eye(T)[perm].T")],
        "caught_by": ["test_permutation"],
    },
    "conv_kernel_flipped": {  # conv1d is a cross-correlation: tap k reads position t + k - 1
        "patch": [("conv_weights", "kernel[:, :, k].T", "kernel[:, :, 2 - k].T")],
        "caught_by": ["test_conv"],
    },
    "conv_taps_not_transposed": {
        "patch": [("conv_weights", "kernel[:, :, k].T", "kernel[:, :, k]")],
        "caught_by": ["test_conv"],
    },
    # ---- masks
    "causal_mask_transposed": {
        "patch": [("causal_mask", "torch.tril(", "torch.triu(")],
        "caught_by": ["test_causal_mask", "test_streaming_masks"],
    },
    "chunked_mask_transposed": {
        "patch": [("streaming_masks", "chunk[None, :] <= chunk[:, None]", "chunk[:, None] <= chunk[None, :]")],
        "caught_by": ["test_streaming_masks"],
    },
    "lookahead_forgets_the_past": {
        "patch": [("streaming_masks", "pos[None, :] <= pos[:, None] + lookahead", "(pos[None, :] - pos[:, None]).abs() <= lookahead")],
        "caught_by": ["test_streaming_masks"],
    },
}
