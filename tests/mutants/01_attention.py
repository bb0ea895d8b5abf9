"""Realistic wrong answers for notebook 01. Each must lose the points of the tests named.

A mutant patches the solution notebook: in solution cell `cell`, `old` is replaced by `new`
(`old` must occur exactly once).
"""

MUTANTS = {
    "no_sqrt_scale": {
        "patch": [("attention", "beta=1.0 / math.sqrt(d_k)", "beta=1.0")],
        "caught_by": ["test_attention", "test_attention_mask"],
    },
    "softmax_over_queries": {
        "patch": [("attention", "A = softargmax(scores, beta=1.0 / math.sqrt(d_k), dim=-1)",
                   "A = softargmax(scores, beta=1.0 / math.sqrt(d_k), dim=-2)")],
        "caught_by": ["test_attention"],
    },
    "mask_after_softmax": {
        "patch": [("attention",
                   '    if mask is not None:\n        scores = scores.masked_fill(~mask.bool(), float("-inf"))\n'
                   "    A = softargmax(scores, beta=1.0 / math.sqrt(d_k), dim=-1)\n",
                   "    A = softargmax(scores, beta=1.0 / math.sqrt(d_k), dim=-1)\n"
                   "    if mask is not None:\n        A = A * mask\n")],
        "caught_by": ["test_attention_mask"],
    },
    "unstable_softmax": {
        "patch": [("softargmax", "    z = z - z.amax(dim=dim, keepdim=True)  # every exponent <= 0: exp cannot overflow\n", "")],
        "caught_by": ["test_softargmax_stable"],
    },
    "softargmax_ignores_dim": {
        "patch": [("softargmax", "z.amax(dim=dim, keepdim=True)", "z.amax(dim=-1, keepdim=True)"),
                  ("softargmax", "e.sum(dim=dim, keepdim=True)", "e.sum(dim=-1, keepdim=True)")],
        "caught_by": ["test_softargmax"],
    },
    "softargmax_over_dim0": {  # the visible test's mistake "a softargmax over dim 0 instead of `dim`"
        "patch": [("softargmax", "z.amax(dim=dim, keepdim=True)", "z.amax(dim=0, keepdim=True)"),
                  ("softargmax", "e.sum(dim=dim, keepdim=True)", "e.sum(dim=0, keepdim=True)")],
        "caught_by": ["test_softargmax", "test_attention"],
    },
    "softargmax_ignores_beta": {
        "patch": [("softargmax", "    z = beta * x\n", "    z = x\n")],
        "caught_by": ["test_softargmax", "test_attention"],
    },
    "uses_torch_softmax": {
        "patch": [("softargmax", "    z = beta * x\n", "    return torch.softmax(beta * x, dim)\n")],
        "caught_by": ["test_softargmax", "test_attention"],
    },
    "columns_softmax_over_queries": {
        "patch": [("attention_columns", "dim=0)", "dim=1)")],
        "caught_by": ["test_attention_columns"],
    },
    "query_copies_instead_of_averaging": {
        "patch": [("design_query", "scale * (mus[a] + mus[b])", "scale * mus[a]")],
        "caught_by": ["test_design_query"],
    },
    "by_hand_softmax_over_columns": {  # a classic slip on paper
        "patch": [("by_hand_self", "A_self = torch.tensor([[0.00, 0.00, 1.00], [0.00, 0.00, 1.00], [0.62, 0.38, 0.00]])",
                   "A_self = torch.tensor([[0.00, 0.00, 0.88], [0.00, 0.00, 0.12], [1.00, 1.00, 0.00]])")],
        "caught_by": ["test_by_hand_self"],
    },
    "rnn_power_off_by_one": {
        "patch": [("first_input_contribution", "matrix_power(W_h, T - 1)", "matrix_power(W_h, T)")],
        "caught_by": ["test_first_input_contribution"],
    },
}
