"""The reference blocks' KV cache (buffers written in place, grown or bounded) and the mask skip for a
single query. Every check compares against a pass without a cache or with an explicit mask."""

from unittest import mock

import pytest
import torch

from course_utils import blocks


def _stack(seed=0, **shape):
    torch.manual_seed(seed)
    shape = {"dim": 16, "num_heads": 2, "mlp_dim": 32, "attn_dim": 5, **shape}
    return [blocks.Block(**shape).eval() for _ in range(2)]


def _full_pass(layers, x):
    T = x.shape[1]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for layer in layers:
        x = layer(x, attn_mask=mask)
    return x


def _cached_pass(layers, x, chunks, cache):
    """Feed x in chunks of these sizes through the cache, each chunk with its causal mask."""
    out, start = [], 0
    for size in chunks:
        h = x[:, start:start + size]
        mask = torch.ones(size, start + size, dtype=torch.bool).tril(diagonal=start)
        for layer in layers:
            h = layer(h, attn_mask=mask, cache=cache)
        out.append(h)
        start += size
        assert len(cache) == start
    return torch.cat(out, dim=1)


@torch.no_grad()
def test_cache_grows_past_its_first_buffer_and_matches_a_full_pass():
    layers = _stack()
    x = torch.randn(2, 150, 16)
    chunks = [3] + [1] * 70 + [7, 1, 60, 1, 1, 1, 6]       # past 64 and 128 positions, in steps and chunks
    assert sum(chunks) == 150
    cache = blocks.KVCache()
    cached = _cached_pass(layers, x, chunks, cache)
    assert torch.allclose(cached, _full_pass(layers, x), atol=1e-5)
    k_buf = cache.layers[layers[0].attn][0]
    assert k_buf.shape[2] >= 150 and k_buf.shape[:2] == (2, 2)


@torch.no_grad()
def test_cache_returns_every_key_and_value_in_order():
    cache, layer = blocks.KVCache(), object()
    ks = [torch.randn(1, 3, n, 4) for n in (5, 1, 1, 70, 2)]
    for i, k in enumerate(ks):
        k_all, v_all = cache.update(layer, k, -k)
        expected = torch.cat(ks[:i + 1], dim=2)
        assert torch.equal(k_all, expected) and torch.equal(v_all, -expected)
    # an earlier step's keys are not changed by later writes
    first, _ = blocks.KVCache().update(layer, ks[0], ks[0])
    assert torch.equal(first, ks[0])


@torch.no_grad()
def test_bounded_cache_fills_exactly_then_raises_a_clear_error():
    layers = _stack(seed=1)
    x = torch.randn(1, 12, 16)
    cache = blocks.KVCache(max_len=12)
    cached = _cached_pass(layers, x, [4] + [1] * 8, cache)
    assert torch.allclose(cached, _full_pass(layers, x), atol=1e-5)
    assert cache.layers[layers[0].attn][0].shape[2] == 12      # allocated once, at max_len
    with pytest.raises(ValueError, match=r"max_len=12.*full"):
        layers[0](torch.randn(1, 1, 16), cache=cache)
    assert len(cache) == 12


@torch.no_grad()
def test_cache_rejects_keys_of_another_batch_size():
    cache, layer = blocks.KVCache(), object()
    cache.update(layer, torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="batch"):
        cache.update(layer, torch.randn(1, 3, 1, 5), torch.randn(1, 3, 1, 5))


def test_cache_under_autograd_matches_and_backpropagates():
    layers = _stack(seed=2)
    x = torch.randn(1, 9, 16, requires_grad=True)
    cache = blocks.KVCache()
    cached = _cached_pass(layers, x, [4, 1, 1, 3], cache)
    assert torch.allclose(cached, _full_pass(layers, x), atol=1e-5)
    cached.sum().backward()                       # an in-place write into saved keys would fail here
    grad = x.grad.clone()
    x.grad = None
    _full_pass(layers, x).sum().backward()
    assert torch.allclose(grad, x.grad, atol=1e-4)


def _masks_seen_by_attention(fn):
    seen = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kwargs):
        seen.append(attn_mask)
        return real(q, k, v, attn_mask=attn_mask, **kwargs)

    with mock.patch.object(blocks.F, "scaled_dot_product_attention", spy):
        fn()
    return seen


@torch.no_grad()
def test_mask_is_skipped_only_for_one_query_that_sees_every_key():
    torch.manual_seed(3)
    attn = blocks.SelfAttention(dim=8, num_heads=2).eval()
    cache = blocks.KVCache()
    prefix, new = torch.randn(2, 5, 8), torch.randn(2, 1, 8)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    assert _masks_seen_by_attention(lambda: attn(prefix, causal, cache=cache))[0] is causal   # 5 queries
    full = torch.ones(1, 6, dtype=torch.bool)
    seen = _masks_seen_by_attention(lambda: attn(new, full, cache=cache))
    assert seen == [None]                                 # one query, every key allowed: no mask needed

    # one query with keys it may not see (padding in the second sequence): the mask is kept and applied
    seq = torch.cat([prefix, new, torch.randn(2, 1, 8)], dim=1)                    # (2, 7, 8)
    padding = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    padding[1, ..., 2:4] = False
    reference, _ = attn(seq, torch.ones(7, 7, dtype=torch.bool).tril() & padding)  # no cache
    cache = blocks.KVCache()
    attn(seq[:, :6], torch.ones(6, 6, dtype=torch.bool).tril() & padding[..., :6], cache=cache)
    out = []
    seen = _masks_seen_by_attention(lambda: out.append(attn(seq[:, 6:], padding, cache=cache)[0]))
    assert seen[0] is padding
    assert torch.allclose(out[0], reference[:, 6:], atol=1e-5)
    unmasked, _ = attn(seq, torch.ones(7, 7, dtype=torch.bool).tril())
    assert not torch.allclose(unmasked[1, 6], reference[1, 6], atol=1e-3)      # the padding matters


@torch.no_grad()
def test_mask_skip_keeps_errors_and_can_be_turned_off():
    torch.manual_seed(4)
    attn = blocks.SelfAttention(dim=8, num_heads=2).eval()
    x = torch.randn(1, 1, 8)
    full = torch.ones(1, 1, dtype=torch.bool)
    with mock.patch.object(blocks.SelfAttention, "skip_full_mask", False):
        assert _masks_seen_by_attention(lambda: attn(x, full))[0] is full
    assert _masks_seen_by_attention(lambda: attn(x, full)) == [None]
    # a mask of the wrong length is passed on, so that attention still reports it
    cache = blocks.KVCache()
    attn(torch.randn(1, 3, 8), torch.ones(3, 3, dtype=torch.bool).tril(), cache=cache)
    with pytest.raises(RuntimeError):
        attn(x, torch.ones(1, 2, dtype=torch.bool), cache=cache)


@torch.no_grad()
def test_use_tanh_gelu_switches_every_gelu_and_keeps_the_cache_exact():
    layers = _stack(seed=5)
    x = torch.randn(1, 6, 16)
    exact = _full_pass(layers, x)
    model = blocks.use_tanh_gelu(torch.nn.ModuleList(layers))
    assert all(m.approximate == "tanh" for m in model.modules() if isinstance(m, torch.nn.GELU))
    tanh = _full_pass(layers, x)
    assert not torch.equal(tanh, exact) and torch.allclose(tanh, exact, atol=1e-2)
    assert torch.allclose(_cached_pass(layers, x, [2, 1, 1, 1, 1], blocks.KVCache()), tanh, atol=1e-5)


@torch.no_grad()
def test_one_token_step_gives_what_the_modules_give():
    layers = blocks.use_tanh_gelu(torch.nn.ModuleList(_stack(seed=6)))
    x = torch.randn(2, 9, 16)
    chunks = [4, 1, 1, 1, 1, 1]
    with mock.patch.object(blocks.Block, "one_token_step", False):
        reference = _cached_pass(layers, x, chunks, blocks.KVCache())
    steps = []
    real = blocks.Block._step
    with mock.patch.object(blocks.Block, "_step", lambda self, *a: steps.append(1) or real(self, *a)):
        fast = _cached_pass(layers, x, chunks, blocks.KVCache())
    assert len(steps) == 5 * len(layers)                    # each one-token chunk, in every layer
    assert torch.allclose(fast, reference, atol=1e-6)
    with torch.inference_mode():                             # masks there have no version counter
        assert torch.allclose(_cached_pass(layers, x, chunks, blocks.KVCache()), reference, atol=1e-6)
    with torch.enable_grad():                                # recording gradients: the modules' path
        steps.clear()
        with mock.patch.object(blocks.Block, "_step", lambda self, *a: steps.append(1) or real(self, *a)):
            _cached_pass(layers, x.requires_grad_(), chunks, blocks.KVCache())
        assert not steps


@torch.no_grad()
def test_mask_checked_once_a_step_is_checked_again_when_it_changes():
    attn, cache = blocks.SelfAttention(dim=8, num_heads=2).eval(), blocks.KVCache()
    mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    assert attn.single_query_mask(mask, 6, cache) is None          # every key allowed
    mask[1, ..., 2] = False                                        # the same tensor, changed in place
    assert attn.single_query_mask(mask, 6, cache) is mask
    assert attn.single_query_mask(torch.ones(2, 1, 1, 6, dtype=torch.bool), 6, cache) is None   # another tensor
    other = mask.clone()
    assert attn.single_query_mask(other, 6, cache) is other
    with torch.inference_mode():                                   # no version counter: checked every time
        inference = torch.ones(1, 6, dtype=torch.bool)
        assert attn.single_query_mask(inference, 6, cache) is None
        inference[0, 0] = False
        assert attn.single_query_mask(inference, 6, cache) is inference
    # through a layer: a mask changed in place after a step is applied at the next
    torch.manual_seed(8)
    layer, x = _stack(seed=8)[0], torch.randn(2, 7, 16)
    cache = blocks.KVCache()
    layer(x[:, :5], attn_mask=torch.ones(5, 5, dtype=torch.bool).tril(), cache=cache)
    step = torch.ones(1, 6, dtype=torch.bool)
    layer(x[:, 5:6], attn_mask=step, cache=cache)
    step = torch.ones(1, 7, dtype=torch.bool)
    layer.attn.single_query_mask(step, 7, cache)                   # checked: allows every key
    step[0, 3] = False
    got = layer(x[:, 6:7], attn_mask=step, cache=cache)
    full = torch.ones(7, 7, dtype=torch.bool).tril()
    full[6, 3] = False
    assert torch.allclose(got, layer(x, attn_mask=full)[:, 6:7], atol=1e-5)
    assert not torch.allclose(got, layer(x, attn_mask=torch.ones(7, 7, dtype=torch.bool).tril())[:, 6:7], atol=1e-4)
