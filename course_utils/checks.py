"""Student-facing checks: compare a result with the expected one and say, in words,
what is wrong.

Every failure raises :class:`CheckError` (an ``AssertionError``, so nbgrader counts
the test cell as failed) with a message that names the problem: which dimension has
the wrong size, where the largest error is, or which known mistake the result matches.
"""

import contextlib
import importlib
import math
import sys

import numpy as np
import torch

MISTAKE_PREFIX = "Likely mistake:"  # the grading report counts messages with this prefix


class CheckError(AssertionError):
    """A check failed. The message says what the student should look at."""


def _fmt_shape(shape, dims=None):
    if dims is None:
        return "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
    parts = [f"{d}={'any' if s is None else s}" for d, s in zip(dims, shape)]
    return "(" + ", ".join(parts) + ")"


def _to_tensor(x, name):
    if x is None:
        raise CheckError(f"`{name}` is None. Did you forget a `return` statement?")
    if isinstance(x, torch.Tensor):
        # A tensor subclass could redefine every operation the check uses: compare plain tensors.
        with torch._C.DisableTorchFunctionSubclass():
            return x.detach().cpu().as_subclass(torch.Tensor)
    if isinstance(x, np.ndarray) or isinstance(x, (list, float, int)):
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    if isinstance(x, tuple):
        raise CheckError(f"`{name}` is a tuple of {len(x)} items, but a single tensor was expected.")
    raise CheckError(f"`{name}` should be a torch.Tensor, but it is a {type(x).__name__}.")


def check_shape(actual, expected, name="output", dims=None):
    """Check ``actual.shape`` against ``expected`` (``None`` matches any size).

    ``dims`` names the dimensions, e.g. ``("batch", "n_queries", "d_v")``, so that the
    message can say which one is wrong.
    """
    actual = _to_tensor(actual, name) if not hasattr(actual, "shape") else actual
    got, expected = tuple(actual.shape), tuple(expected)
    if len(got) != len(expected):
        raise CheckError(
            f"`{name}` should have {len(expected)} dimensions {_fmt_shape(expected, dims)}, "
            f"but it has {len(got)}: shape {got}."
        )
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if e is not None and g != e]
    if not wrong:
        return
    lines = [f"`{name}` should have shape {_fmt_shape(expected, dims)}, but it has shape {got}."]
    for i in wrong:
        label = f" ({dims[i]})" if dims else ""
        lines.append(f"  dimension {i}{label} should be {expected[i]}, got {got[i]}.")
    if None not in expected and sorted(got) == sorted(expected):
        lines.append("  The sizes are right but in the wrong order: a missing or extra transpose?")
    raise CheckError("\n".join(lines))


def check_close(actual, expected, name="output", atol=1e-5, rtol=1e-4, dims=None, mistakes=()):
    """Check that ``actual`` equals ``expected`` up to ``atol + rtol * |expected|``.

    ``mistakes`` is a sequence of ``(description, tensor)`` pairs: the results that known
    mistakes produce. If ``actual`` matches one of them, the message names the mistake.
    """
    actual = _to_tensor(actual, name).to(torch.float64)
    expected = _to_tensor(expected, "expected").to(torch.float64)
    check_shape(actual, expected.shape, name, dims)

    bad_float = ~torch.isfinite(actual) & torch.isfinite(expected)
    if bad_float.any():
        idx = tuple(int(i) for i in bad_float.nonzero()[0])
        raise CheckError(
            f"`{name}` contains {int(bad_float.sum())} NaN or inf value(s), the first at index {idx}. "
            "This usually comes from exp() of a large number (an unstable softmax) or from a row "
            "that is masked everywhere."
        )

    err = (actual - expected).abs()
    err = torch.where(torch.isfinite(expected), err, torch.where(actual == expected, 0.0, float("inf")))
    bad = err > atol + rtol * expected.abs().nan_to_num(posinf=0.0, neginf=0.0)
    if not bad.any():
        return
    flat = int(torch.argmax(torch.where(bad, err, torch.zeros_like(err))))
    idx = tuple(int(i) for i in np.unravel_index(flat, tuple(err.shape))) if err.dim() else ()
    msg = (
        f"`{name}` is wrong in {int(bad.sum())} of {err.numel()} entries. "
        f"The largest error is {float(err[idx]):.3g} at index {idx}: "
        f"got {float(actual[idx]):.6g}, expected {float(expected[idx]):.6g}."
    )
    for description, wrong in mistakes:
        wrong = _to_tensor(wrong, "mistake").to(torch.float64)
        if wrong.shape == actual.shape and torch.allclose(actual, wrong, atol=atol, rtol=rtol):
            msg += f"\n{MISTAKE_PREFIX} your result matches {description}."
            break
    raise CheckError(msg)


def check_true(condition, message):
    """Fail with ``message`` unless ``condition`` holds."""
    if not bool(condition):
        raise CheckError(message)


@contextlib.contextmanager
def forbid(*names, reason="this exercise asks you to implement it yourself"):
    """Make the named functions raise while the block runs.

        with forbid("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"):
            out = softargmax(x)

    Calls through a reference saved earlier (``from torch.nn.functional import softmax``,
    ``sm = torch.softmax``) are caught too: a profile hook watches every call in the block.
    """
    saved = []

    def make_blocker(qualname):
        def blocked(*args, **kwargs):
            raise CheckError(f"`{qualname}` may not be used here: {reason}.")
        return blocked

    used = []
    originals = [(qualname, getattr(_resolve(qualname.rsplit(".", 1)[0]), qualname.rsplit(".", 1)[1]))
                 for qualname in names]

    def watch(frame, event, arg):
        if event in ("call", "c_call") and not used:
            for qualname, fn in originals:
                if _is_call_of(fn, event, frame, arg):
                    used.append(qualname)

    previous = sys.getprofile()
    try:
        for qualname in names:
            owner_name, attr = qualname.rsplit(".", 1)
            owner = _resolve(owner_name)
            saved.append((owner, attr, owner.__dict__.get(attr, _MISSING)))
            setattr(owner, attr, make_blocker(qualname))
        sys.setprofile(watch)
        yield
    finally:
        sys.setprofile(previous)
        for owner, attr, original in reversed(saved):
            if original is _MISSING:  # it was inherited (torch.Tensor.softmax): un-shadow it
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)
    if used:
        raise CheckError(f"`{used[0]}` may not be used here (it was called through another name): {reason}.")


_MISSING = object()


def _is_call_of(fn, event, frame, arg):
    """Whether a profile event is a call of ``fn``, however it was reached."""
    if event == "call":
        return getattr(fn, "__code__", None) is frame.f_code
    if arg is fn:
        return True
    name, owner = getattr(fn, "__name__", None), getattr(fn, "__objclass__", None)
    if owner is not None:  # a method descriptor such as torch.Tensor.softmax, called on a tensor
        return getattr(arg, "__name__", None) == name and isinstance(getattr(arg, "__self__", None), owner)
    return (getattr(arg, "__name__", None) == name and getattr(fn, "__self__", None) is not None
            and getattr(arg, "__self__", None) is fn.__self__)


def _resolve(dotted):
    """``"torch.nn.functional"`` -> the module; ``"torch.Tensor"`` -> the class."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


# Helpers that many test cells share. None of them is an answer: the references below are built on
# torch's own modules, which the hidden tests forbid inside the code they test.

SOFTMAX = ("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax", "torch.special.softmax")
"""torch's softmax under every name: ``forbid(*SOFTMAX)`` where an exercise asks for your own."""

ATTENTION = SOFTMAX + ("torch.nn.functional.scaled_dot_product_attention",
                       "torch.nn.functional.multi_head_attention_forward",
                       "torch.nn.MultiheadAttention.forward")
"""torch's softmax and attention: ``forbid(*ATTENTION)`` where an exercise asks for your own attention."""


def randomize_(module, generator, scale=0.5):
    """Overwrite every parameter of ``module``, in the order of ``module.parameters()``, with
    ``scale * N(0, 1)`` draws from ``generator`` in the parameter's dtype; return ``module``.
    The tests use it so that a result does not depend on the initialisation."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * scale)
    return module


def randomize_transformer_(module, generator):
    """Like :func:`randomize_`, with scales that keep a Transformer's activations of order 1: weights
    ``N(0, 1/fan_in)``, biases ``N(0, 0.3^2)``, LayerNorm gains ``1 + N(0, 1/dim)``.
    Returns ``{name: a copy of the parameter}``."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = 0.3 if name.endswith("bias") else 1 / math.sqrt(p.shape[-1])
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * scale)
            if "norm" in name and name.endswith("weight"):
                p.add_(1.0)
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def random_mha_case(generator, B, T, dim, num_heads, attn_dim=None, spread=None):
    """Random float64 inputs for a test of multi-head self-attention, drawn from ``generator`` in this
    order: the weights [W_Q, W_K, W_V, W_O] in the math convention of :func:`reference_mha`, each entry
    N(0, 1) / spread (spread = sqrt(dim) unless given; attn_dim = dim // num_heads unless given); the
    input x (B, T, dim), N(0, 1); a random (B, T, T) mask in which every token sees itself.
    Returns (weights, x, masks), masks being the ones to try: None, "itself and the token before" as
    integers and as booleans, and the random mask as booleans and as floats."""
    attn_dim = attn_dim or dim // num_heads
    spread = math.sqrt(dim) if spread is None else spread
    inner = num_heads * attn_dim
    W = [torch.randn(dim, inner, generator=generator, dtype=torch.float64) / spread for _ in range(3)]
    W.append(torch.randn(inner, dim, generator=generator, dtype=torch.float64) / spread)
    x = torch.randn(B, T, dim, generator=generator, dtype=torch.float64)
    self_prev = torch.eye(T, dtype=torch.int64) + torch.diag(torch.ones(T - 1, dtype=torch.int64), -1)
    batched = (torch.rand(B, T, T, generator=generator) > 0.4) | torch.eye(T, dtype=torch.bool)
    return W, x, (None, self_prev, self_prev.bool(), batched, batched.double())


def reference_mha(x, W_Q, W_K, W_V, W_O, num_heads, attn_mask=None, attn_bias=None):
    """What a correct multi-head self-attention returns, computed by torch's ``nn.MultiheadAttention``
    (no biases, in ``x``'s dtype).

    x: (B, T, dim). Weights in the math convention: ``Q = x @ W_Q``, with W_Q, W_K, W_V of shape
    (dim, num_heads * attn_dim), head k using columns k*attn_dim:(k+1)*attn_dim, and W_O of shape
    (num_heads * attn_dim, dim). nn.MultiheadAttention needs num_heads * attn_dim == dim: when it is
    larger, x and the weights are padded with zeros, which changes no score and no output.
    attn_mask: None, (T, T) or (B, T, T), 1 = may attend; attn_bias: broadcastable to
    (B, num_heads, T, T), added to the scaled scores. Returns out (B, T, dim), A (B, num_heads, T, T).
    """
    B, T, dim = x.shape
    inner = W_Q.shape[1]
    if inner < dim:
        raise ValueError(f"num_heads * attn_dim = {inner} is smaller than dim = {dim}")
    pad = inner - dim
    mha = torch.nn.MultiheadAttention(inner, num_heads, bias=False, batch_first=True, dtype=x.dtype)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([torch.nn.functional.pad(W, (0, 0, 0, pad)).T
                                            for W in (W_Q, W_K, W_V)]))
        mha.out_proj.weight.copy_(torch.nn.functional.pad(W_O, (0, pad)).T)
    float_mask = torch.zeros(B, num_heads, T, T, dtype=x.dtype)
    if attn_bias is not None:
        float_mask = float_mask + attn_bias
    if attn_mask is not None:
        allowed = attn_mask if attn_mask.dim() == 2 else attn_mask[:, None]  # the same for every head
        float_mask = float_mask.masked_fill(allowed == 0, float("-inf"))
    x = torch.nn.functional.pad(x, (0, pad))
    out, A = mha(x, x, x, attn_mask=float_mask.reshape(B * num_heads, T, T), need_weights=True,
                 average_attn_weights=False)
    return out[..., :dim], A


def reference_block(params, num_heads, prefix=""):
    """torch's ``nn.TransformerEncoderLayer`` (pre-norm, GELU, no dropout, no attention biases, float64)
    with the weights of a block named as in notebook 02 (``norm1``, ``attn.W_Q`` .. ``attn.W_O``, ``norm2``,
    ``ffn.fc1``, ``ffn.fc2``), taken from ``params`` = {prefix + name: tensor}. In training mode, so that
    it runs its attention module (see :func:`reference_block_attention`)."""
    dim, mlp_dim = params[prefix + "norm1.weight"].shape[0], params[prefix + "ffn.fc1.weight"].shape[0]
    layer = torch.nn.TransformerEncoderLayer(dim, num_heads, mlp_dim, dropout=0.0, activation="gelu",
                                             batch_first=True, norm_first=True, dtype=torch.float64)
    with torch.no_grad():
        in_proj = [params[prefix + f"attn.W_{n}.weight"] for n in "QKV"]
        layer.self_attn.in_proj_weight.copy_(torch.cat(in_proj))
        layer.self_attn.in_proj_bias.zero_()
        layer.self_attn.out_proj.weight.copy_(params[prefix + "attn.W_O.weight"])
        layer.self_attn.out_proj.bias.zero_()
        pairs = [("ffn.fc1", "linear1"), ("ffn.fc2", "linear2"), ("norm1", "norm1"), ("norm2", "norm2")]
        for mine, theirs in pairs:
            getattr(layer, theirs).weight.copy_(params[prefix + mine + ".weight"])
            getattr(layer, theirs).bias.copy_(params[prefix + mine + ".bias"])
    return layer.train()


def reference_block_attention(layer, x, mask=None):
    """The attention maps (B, num_heads, T, T) of a :func:`reference_block` on x (B, T, dim);
    ``mask``: torch's boolean convention (True = may not attend), as for the layer's ``src_mask``."""
    z = layer.norm1(x)
    return layer.self_attn(z, z, z, attn_mask=mask, need_weights=True, average_attn_weights=False)[1]


def reference_transformer(params, num_heads, num_layers, x, mask=None):
    """The output and the attention maps of a stack of :func:`reference_block` layers (parameters
    ``layers.0.`` .. in ``params``) followed by the LayerNorm ``norm``, on x (B, T, dim); ``mask`` as in
    :func:`reference_block_attention`. Returns (out (B, T, dim), [maps of each layer])."""
    maps = []
    for l in range(num_layers):
        layer = reference_block(params, num_heads, prefix=f"layers.{l}.")
        maps.append(reference_block_attention(layer, x, mask))
        x = layer(x, src_mask=mask)
    return torch.nn.functional.layer_norm(x, x.shape[-1:], params["norm.weight"], params["norm.bias"]), maps


def without_gradient(module):
    """The names of the parameters of ``module`` that the last backward pass did not reach."""
    return [name for name, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum()]


def count_torch_calls(fn, *args, **kwargs):
    """How many torch functions ``fn(*args, **kwargs)`` calls, without gradients. A count that does not
    grow with the number of heads shows that there is no Python loop over the heads."""
    from torch.overrides import TorchFunctionMode

    class Counter(TorchFunctionMode):
        n = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.n += 1
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Counter() as counter:
        fn(*args, **kwargs)
    return counter.n


def ready_to_submit(path=None, run=True):
    """The last cell of a notebook: print whether it is ready to hand in (every TODO done, every
    written answer filled, every visible test passing top to bottom, grading metadata intact).

    Finds the running notebook itself (or give ``path=``); see ``course_utils.handin``.
    """
    from . import handin  # imported here: it needs nbclient, which the checks above do not

    handin.ready_to_submit(path, run)
