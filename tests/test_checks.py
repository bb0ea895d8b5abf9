import numpy as np
import pytest
import torch

from course_utils import checks
from course_utils.checks import CheckError, check_close, check_shape, check_true


def test_shape_mismatch_names_the_dimension():
    with pytest.raises(CheckError) as err:
        check_shape(torch.zeros(2, 4, 5), (2, 3, 5), "out", dims=("batch", "n_queries", "d_v"))
    msg = str(err.value)
    assert "(batch=2, n_queries=3, d_v=5)" in msg
    assert "dimension 1 (n_queries) should be 3, got 4" in msg


def test_shape_wrong_rank():
    with pytest.raises(CheckError, match="should have 2 dimensions"):
        check_shape(torch.zeros(3), (3, 1), "y")


def test_shape_transposed_gets_a_hint():
    with pytest.raises(CheckError, match="wrong order"):
        check_shape(torch.zeros(5, 3), (3, 5), "A")


def test_shape_wildcard_and_pass():
    check_shape(torch.zeros(7, 3), (None, 3), "x")  # no error


def test_close_reports_largest_error_and_where():
    expected = torch.zeros(2, 3)
    actual = expected.clone()
    actual[1, 2] = 0.5
    actual[0, 0] = 0.1
    with pytest.raises(CheckError) as err:
        check_close(actual, expected, "H")
    msg = str(err.value)
    assert "wrong in 2 of 6 entries" in msg
    assert "0.5 at index (1, 2)" in msg
    assert "got 0.5, expected 0" in msg


def test_close_names_a_known_mistake():
    expected = torch.tensor([0.2, 0.8])
    unscaled = torch.tensor([0.05, 0.95])
    with pytest.raises(CheckError) as err:
        check_close(unscaled, expected, "A", mistakes=[("attention *without* the 1/sqrt(d_k) scale", unscaled)])
    assert f"{checks.MISTAKE_PREFIX} your result matches attention *without* the 1/sqrt(d_k) scale" in str(err.value)


def test_close_does_not_name_a_mistake_that_does_not_match():
    with pytest.raises(CheckError) as err:
        check_close(torch.tensor([0.3, 0.7]), torch.tensor([0.2, 0.8]), "A",
                    mistakes=[("something else", torch.tensor([0.05, 0.95]))])
    assert checks.MISTAKE_PREFIX not in str(err.value)


def test_close_explains_nan():
    with pytest.raises(CheckError, match="NaN or inf.*unstable softmax"):
        check_close(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]), "p")


def test_close_explains_none_and_tuples_and_types():
    with pytest.raises(CheckError, match="forget a `return`"):
        check_close(None, torch.zeros(1), "out")
    with pytest.raises(CheckError, match="tuple of 2 items"):
        check_close((torch.zeros(1), torch.zeros(1)), torch.zeros(1), "out")
    with pytest.raises(CheckError, match="should be a torch.Tensor"):
        check_close("abc", torch.zeros(1), "out")


def test_close_accepts_numpy_and_tolerances():
    check_close(np.array([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]), "x")
    with pytest.raises(CheckError):
        check_close(torch.tensor([1.0]), torch.tensor([1.01]), "x", atol=1e-3, rtol=0)
    check_close(torch.tensor([1.0]), torch.tensor([1.01]), "x", atol=0.02)


def test_check_true():
    check_true(True, "never shown")
    with pytest.raises(CheckError, match="rows must sum to 1"):
        check_true(False, "rows must sum to 1")


def test_check_error_is_an_assertion_error():
    assert issubclass(CheckError, AssertionError)  # nbgrader counts the cell as failed


def test_forbid_blocks_and_restores():
    x = torch.randn(3)
    original = torch.softmax
    with checks.forbid("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"):
        with pytest.raises(CheckError, match="`torch.softmax` may not be used"):
            torch.softmax(x, 0)
        with pytest.raises(CheckError, match="torch.nn.functional.softmax"):
            torch.nn.functional.softmax(x, 0)
        with pytest.raises(CheckError, match="torch.Tensor.softmax"):
            x.softmax(0)
        assert torch.exp(x).shape == (3,)  # everything else still works
    assert torch.softmax is original
    torch.testing.assert_close(x.softmax(0), torch.softmax(x, 0))


def test_forbid_restores_after_an_exception():
    with pytest.raises(ValueError):
        with checks.forbid("torch.softmax"):
            raise ValueError
    assert torch.softmax(torch.zeros(2), 0).sum() == 1


# ---- helpers shared by the test cells

def test_forbidden_lists_name_real_functions():
    assert set(checks.SOFTMAX) < set(checks.ATTENTION)
    with checks.forbid(*checks.ATTENTION):
        with pytest.raises(CheckError, match="torch.special.softmax"):
            torch.special.softmax(torch.zeros(2), 0)
        with pytest.raises(CheckError, match="MultiheadAttention.forward"):
            mha = torch.nn.MultiheadAttention(4, 2, batch_first=True)
            mha(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4), torch.zeros(1, 3, 4))
    assert torch.special.softmax(torch.zeros(2), 0).sum() == 1


def test_randomize_draws_in_parameter_order_and_dtype():
    layer = torch.nn.Linear(3, 2).double()
    assert checks.randomize_(layer, torch.Generator().manual_seed(7), scale=0.5) is layer
    g = torch.Generator().manual_seed(7)
    for p in layer.parameters():
        assert p.dtype == torch.float64
        torch.testing.assert_close(p.detach(), torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)


def test_randomize_transformer_scales():
    block = torch.nn.ModuleDict({"fc": torch.nn.Linear(400, 300), "norm": torch.nn.LayerNorm(400)})
    params = checks.randomize_transformer_(block.double(), torch.Generator().manual_seed(0))
    assert abs(params["fc.weight"].std().item() - 400 ** -0.5) < 0.01
    assert abs(params["fc.bias"].std().item() - 0.3) < 0.05
    assert abs(params["norm.weight"].mean().item() - 1.0) < 0.01
    params["fc.weight"].zero_()  # a copy: the module keeps its weights
    assert block["fc"].weight.abs().sum() > 0


def _softmax_attention(x, W_Q, W_K, W_V, W_O, h, allowed=None, bias=0.0):
    """Plain multi-head attention in float64, the reference for the reference."""
    B, T, _ = x.shape
    d_k = W_Q.shape[1] // h
    split = lambda t: t.view(B, T, h, d_k).transpose(1, 2)  # noqa: E731
    q, k, v = split(x @ W_Q), split(x @ W_K), split(x @ W_V)
    scores = q @ k.transpose(-2, -1) / d_k ** 0.5 + bias
    if allowed is not None:
        scores = scores.masked_fill(allowed == 0, float("-inf"))
    A = torch.softmax(scores, -1)
    return (A @ v).transpose(1, 2).reshape(B, T, h * d_k) @ W_O, A


def test_reference_mha_masks_and_bias():
    g = torch.Generator().manual_seed(1)
    W = [torch.randn(8, 8, generator=g, dtype=torch.float64) / 3 for _ in range(4)]
    x = torch.randn(3, 5, 8, generator=g, dtype=torch.float64)
    causal = torch.ones(5, 5).tril()
    batched = (torch.rand(3, 5, 5, generator=g) > 0.5) | torch.eye(5, dtype=torch.bool)
    bias = torch.randn(4, 5, 5, generator=g, dtype=torch.float64)
    for mask, allowed in [(None, None), (causal, causal), (batched.int(), batched[:, None])]:
        for b in (None, bias):
            out, A = checks.reference_mha(x, *W, 4, attn_mask=mask, attn_bias=b)
            out_ref, A_ref = _softmax_attention(x, *W, 4, allowed, 0.0 if b is None else b)
            torch.testing.assert_close(A, A_ref)
            torch.testing.assert_close(out, out_ref)


def test_reference_mha_when_the_heads_are_wider_than_dim():
    W, x, masks = checks.random_mha_case(torch.Generator().manual_seed(3), 2, 5, 6, 3, attn_dim=5, spread=3)
    assert [tuple(w.shape) for w in W] == [(6, 15)] * 3 + [(15, 6)] and x.shape == (2, 5, 6)
    for mask in masks:
        allowed = None if mask is None else (mask if mask.dim() == 2 else mask[:, None])
        out, A = checks.reference_mha(x, *W, 3, attn_mask=mask)
        out_ref, A_ref = _softmax_attention(x, *W, 3, allowed)
        torch.testing.assert_close(A, A_ref)
        torch.testing.assert_close(out, out_ref)
    with pytest.raises(ValueError):
        checks.reference_mha(x, *(w[:4, :4] for w in W), 2)  # (4, 4) weights for a dim of 6


def test_random_mha_case_draws_weights_then_input_then_mask():
    W, x, masks = checks.random_mha_case(torch.Generator().manual_seed(4), 3, 5, 8, 2)
    g = torch.Generator().manual_seed(4)
    for w in W:
        torch.testing.assert_close(w, torch.randn(8, 8, generator=g, dtype=torch.float64) / 8 ** 0.5)
    torch.testing.assert_close(x, torch.randn(3, 5, 8, generator=g, dtype=torch.float64))
    assert masks[0] is None and masks[1].dtype == torch.int64 and masks[2].dtype == torch.bool
    assert masks[1].tolist()[2] == [0, 1, 1, 0, 0] and masks[3].shape == (3, 5, 5)
    assert masks[3].diagonal(dim1=1, dim2=2).all() and masks[4].dtype == torch.float64


def test_reference_block_is_a_pre_norm_block():
    g = torch.Generator().manual_seed(2)
    dim, mlp, h = 8, 16, 2
    params = {"norm1.weight": 1 + torch.randn(dim, generator=g), "norm1.bias": torch.randn(dim, generator=g),
              "norm2.weight": 1 + torch.randn(dim, generator=g), "norm2.bias": torch.randn(dim, generator=g),
              "ffn.fc1.weight": torch.randn(mlp, dim, generator=g) / 3, "ffn.fc1.bias": torch.randn(mlp, generator=g),
              "ffn.fc2.weight": torch.randn(dim, mlp, generator=g) / 3, "ffn.fc2.bias": torch.randn(dim, generator=g)}
    params |= {f"attn.W_{n}.weight": torch.randn(dim, dim, generator=g) / 3 for n in "QKVO"}
    params = {f"layers.0.{name}": p.double() for name, p in params.items()}
    p = {name.removeprefix("layers.0."): t for name, t in params.items()}
    layer = checks.reference_block(params, h, prefix="layers.0.")
    x = torch.randn(2, 5, dim, generator=g, dtype=torch.float64)
    causal = torch.ones(5, 5).tril()
    z = torch.nn.functional.layer_norm(x, (dim,), p["norm1.weight"], p["norm1.bias"])
    a, A = _softmax_attention(z, *(p[f"attn.W_{n}.weight"].T for n in "QKVO"), h, causal)
    y = x + a
    z = torch.nn.functional.layer_norm(y, (dim,), p["norm2.weight"], p["norm2.bias"])
    y = y + torch.nn.functional.linear(torch.nn.functional.gelu(
        torch.nn.functional.linear(z, p["ffn.fc1.weight"], p["ffn.fc1.bias"])), p["ffn.fc2.weight"], p["ffn.fc2.bias"])
    torch.testing.assert_close(layer(x, src_mask=~causal.bool()), y)
    torch.testing.assert_close(checks.reference_block_attention(layer, x, ~causal.bool()), A)


def test_count_torch_calls_sees_a_loop():
    def vectorized(x, h):
        return x.view(2, h, -1).sum(-1)

    def looped(x, h):
        return torch.stack([x.view(2, h, -1)[:, i].sum(-1) for i in range(h)], 1)

    x = torch.randn(2, 8)
    assert checks.count_torch_calls(vectorized, x, 2) == checks.count_torch_calls(vectorized, x, 4) > 0
    assert checks.count_torch_calls(looped, x, 2) < checks.count_torch_calls(looped, x, 4)


def test_reference_transformer_stacks_reference_blocks_and_a_final_norm():
    g = torch.Generator().manual_seed(5)
    stack = torch.nn.ModuleDict({"layers": torch.nn.ModuleList([torch.nn.ModuleDict({
        "norm1": torch.nn.LayerNorm(8), "norm2": torch.nn.LayerNorm(8),
        "attn": torch.nn.ModuleDict({f"W_{n}": torch.nn.Linear(8, 8, bias=False) for n in "QKVO"}),
        "ffn": torch.nn.ModuleDict({"fc1": torch.nn.Linear(8, 16), "fc2": torch.nn.Linear(16, 8)})})
        for _ in range(2)]), "norm": torch.nn.LayerNorm(8)}).double()
    params = checks.randomize_transformer_(stack, g)
    x = torch.randn(2, 5, 8, generator=g, dtype=torch.float64)
    mask = ~torch.ones(5, 5, dtype=torch.bool).tril()
    out, maps = checks.reference_transformer(params, 2, 2, x, mask)
    y, expected_maps = x, []
    for l in range(2):
        layer = checks.reference_block(params, 2, prefix=f"layers.{l}.")
        expected_maps.append(checks.reference_block_attention(layer, y, mask))
        y = layer(y, src_mask=mask)
    torch.testing.assert_close(out, torch.nn.functional.layer_norm(y, (8,), params["norm.weight"], params["norm.bias"]))
    for got, want in zip(maps, expected_maps):
        torch.testing.assert_close(got, want)
    assert maps[0][..., 0, 1:].abs().max() == 0  # the first token sees only itself


def test_without_gradient_names_the_parameters_a_backward_pass_missed():
    layers = torch.nn.ModuleDict({"used": torch.nn.Linear(2, 2), "unused": torch.nn.Linear(2, 2)})
    layers["used"](torch.ones(1, 2)).sum().backward()
    assert checks.without_gradient(layers) == ["unused.weight", "unused.bias"]
