"""A compact reference Transformer block, built on torch's own fused attention, with an optional
key/value cache for fast generation.

Notebooks 03–05 use it so that they do not depend on a student's notebook-02 code, and so that
training is fast. It is not a notebook-02 answer: it uses ``F.scaled_dot_product_attention``, which
notebook 02 forbids, and it has a different interface.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class KVCache:
    """Keys and values of the tokens seen so far, one entry per attention layer.

    Pass the same cache to every forward call while generating: each attention layer writes the keys
    and values of the new tokens after the cached ones and attends over all of them.

    Each layer's keys and values live in buffers allocated ahead and written in place, so a step copies
    only its new tokens (``torch.cat`` would copy the whole cache at every step). With ``max_len`` the
    buffers hold exactly that many positions and a longer sequence raises ``ValueError``; without it
    they start at 64 positions (or twice the first chunk) and double whenever they fill up. While
    gradients are being recorded the cache concatenates instead (an in-place write would break the
    backward pass of the earlier steps).
    """

    def __init__(self, max_len=None):
        self.max_len = max_len
        self.layers = {}    # layer -> [keys buffer, values buffer, number of positions filled]
        self.full_mask = None   # (mask, its version, whether it allows every key): see SelfAttention

    def update(self, layer, k, v):
        """Append ``k``, ``v`` (B, h, T_new, hd) for ``layer``; return all keys and values so far."""
        entry = self.layers.get(layer)
        n = entry[2] if entry is not None else 0
        T = k.shape[2]
        if self.max_len is not None and n + T > self.max_len:
            raise ValueError(f"KVCache(max_len={self.max_len}) is full: {n} positions cached, {T} more do not fit; "
                             f"create the cache with a larger max_len (or max_len=None to let it grow)")
        if entry is not None and entry[0].shape[:2] + entry[0].shape[3:] != k.shape[:2] + k.shape[3:]:
            raise ValueError(f"KVCache: new keys of shape {tuple(k.shape)} do not match the cached ones "
                             f"{tuple(entry[0][:, :, :n].shape)} (batch, heads and head size must stay the same)")
        if torch.is_grad_enabled() and (k.requires_grad or v.requires_grad):
            if entry is not None:
                k, v = torch.cat([entry[0][:, :, :n], k], dim=2), torch.cat([entry[1][:, :, :n], v], dim=2)
            self.layers[layer] = [k, v, n + T]
            return k, v
        if entry is None or n + T > entry[0].shape[2]:          # (re)allocate, keeping what is cached
            capacity = self.max_len if self.max_len is not None else max(64, 2 * (n + T))
            shape = k.shape[:2] + (capacity,) + k.shape[3:]
            k_buf, v_buf = k.new_empty(shape), v.new_empty(shape)
            if entry is not None:
                k_buf[:, :, :n], v_buf[:, :, :n] = entry[0][:, :, :n], entry[1][:, :, :n]
            entry = self.layers[layer] = [k_buf, v_buf, n]
        entry[0][:, :, n:n + T] = k
        entry[1][:, :, n:n + T] = v
        entry[2] = n + T
        return entry[0][:, :, :n + T], entry[1][:, :, :n + T]

    def __len__(self):
        """Number of cached positions (0 before the first call)."""
        if not self.layers:
            return 0
        return next(iter(self.layers.values()))[2]


def attend(q, k, v, attn_mask=None, need_weights=False, dropout=0.0):
    """Scaled dot-product attention over (B, h, T, hd) tensors. With ``need_weights`` it is computed
    explicitly and also returns the maps (for plots); otherwise torch's fused kernel does it."""
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout), None
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    A = scores.softmax(dim=-1)
    return A @ v, A


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused QKV projection; ``attn_dim`` is the size of each head.

    A single query (one new token during generation) whose mask allows every key is computed without the
    mask, which gives the same result faster; the check reads the mask, so it is done on the CPU only (on a
    GPU it would wait for the device at every step). ``skip_full_mask = False`` turns it off.
    """

    skip_full_mask = True

    def __init__(self, dim, num_heads, attn_dim=None, dropout=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.attn_dim = attn_dim or dim // num_heads
        self.qkv = nn.Linear(dim, 3 * num_heads * self.attn_dim)
        self.proj = nn.Linear(num_heads * self.attn_dim, dim)
        self.dropout = dropout

    def forward(self, x, attn_mask=None, need_weights=False, cache=None):
        """x: (B, T, dim); attn_mask: bool, True = may attend, broadcastable to (B, h, T, T_total);
        cache: a KVCache, updated in place. Returns y (B, T, dim) and the attention maps
        (B, h, T, T_total) if ``need_weights``, else None."""
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.num_heads, self.attn_dim).permute(2, 0, 3, 1, 4)  # (B, h, T, hd) each
        if cache is not None:
            k, v = cache.update(self, k, v)                                # (B, h, T_total, hd)
        if T == 1:
            attn_mask = self.single_query_mask(attn_mask, k.shape[2], cache)
        y, A = attend(q, k, v, attn_mask, need_weights, self.dropout if self.training else 0.0)
        y = self.proj(y.transpose(1, 2).reshape(B, T, self.num_heads * self.attn_dim))
        return y, A

    def single_query_mask(self, attn_mask, n_keys, cache=None):
        """The mask to apply for one query: None if it allows every key. With a cache, the answer is kept
        for the mask last checked (every layer of a step gets the same mask)."""
        if not (self.skip_full_mask and attn_mask is not None and attn_mask.dtype == torch.bool
                and attn_mask.device.type == "cpu" and attn_mask.shape[-1] == n_keys):
            return attn_mask
        version = None if attn_mask.is_inference() else attn_mask._version   # (inference tensors have none)
        keep = isinstance(cache, KVCache)
        checked = cache.full_mask if keep else None
        if checked is None or checked[0] is not attn_mask or version is None or checked[1] != version:
            checked = (attn_mask, version, bool(attn_mask.all()))
            if keep:
                cache.full_mask = checked
        return None if checked[2] else attn_mask   # one query that may see every key: no mask needed


class CrossAttention(nn.Module):
    """Multi-head attention whose queries come from ``x`` and whose keys and values come from ``memory``
    (e.g. a decoder reading the encoder's output)."""

    def __init__(self, dim, num_heads, attn_dim=None, dropout=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.attn_dim = attn_dim or dim // num_heads
        self.q = nn.Linear(dim, num_heads * self.attn_dim)
        self.kv = nn.Linear(dim, 2 * num_heads * self.attn_dim)
        self.proj = nn.Linear(num_heads * self.attn_dim, dim)
        self.dropout = dropout

    def forward(self, x, memory, attn_mask=None, need_weights=False):
        """x: (B, T, dim) queries; memory: (B, S, dim) keys and values; attn_mask: bool, True = may
        attend, broadcastable to (B, h, T, S). Returns y (B, T, dim) and the maps (B, h, T, S) or None."""
        B, T, _ = x.shape
        S = memory.shape[1]
        q = self.q(x).view(B, T, self.num_heads, self.attn_dim).transpose(1, 2)                  # (B, h, T, hd)
        k, v = self.kv(memory).view(B, S, 2, self.num_heads, self.attn_dim).permute(2, 0, 3, 1, 4)  # (B, h, S, hd)
        y, A = attend(q, k, v, attn_mask, need_weights, self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, self.num_heads * self.attn_dim)), A


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(norm(x)), then x + mlp(norm(x)).

    One new token with a cache, without gradients (generation), takes ``_step``: the same operations
    without the modules' calls. ``one_token_step = False`` turns it off (for the benchmark's ablation).
    """

    one_token_step = True

    def __init__(self, dim, num_heads, mlp_dim, dropout=0.0, attn_dim=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, attn_dim, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim), nn.Dropout(dropout))

    def forward(self, x, attn_mask=None, need_weights=False, cache=None):
        """Returns x, or (x, attention maps) if ``need_weights``."""
        if (self.one_token_step and cache is not None and x.shape[1] == 1
                and not (need_weights or self.training or torch.is_grad_enabled())):
            return self._step(x, attn_mask, cache)
        y, A = self.attn(self.norm1(x), attn_mask, need_weights, cache)
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return (x, A) if need_weights else x

    def _step(self, x, attn_mask, cache):
        """``forward`` for one new token with a cache while generating: the same operations, called as
        functions (so the parts' module hooks are not called). A step is a few dozen tiny operations, and
        the modules' own calls cost about as much as they do."""
        (fc1, gelu, fc2, _), attn = self.mlp, self.attn      # (the dropout is off: not training)
        B, h, hd = x.shape[0], attn.num_heads, attn.attn_dim
        n1, n2 = self.norm1, self.norm2
        qkv = F.linear(F.layer_norm(x, n1.normalized_shape, n1.weight, n1.bias, n1.eps), attn.qkv.weight, attn.qkv.bias)
        q, k, v = qkv.view(B, 1, 3, h, hd).permute(2, 0, 3, 1, 4)
        k, v = cache.update(attn, k, v)
        y, _ = attend(q, k, v, attn.single_query_mask(attn_mask, k.shape[2], cache))
        x = x + F.linear(y.view(B, 1, h * hd), attn.proj.weight, attn.proj.bias)
        mid = F.gelu(F.linear(F.layer_norm(x, n2.normalized_shape, n2.weight, n2.bias, n2.eps), fc1.weight, fc1.bias),
                     approximate=gelu.approximate)
        return x + F.linear(mid, fc2.weight, fc2.bias)


def use_tanh_gelu(module):
    """Switch every ``nn.GELU`` inside ``module`` to GELU's tanh approximation (the form GPT-2 uses) and
    return ``module``. On a CPU it costs about a third of the exact (erf) form, which shows when each step is
    small, as in generation with a KV cache; call it before training so that the model trains and generates
    with the same function."""
    for m in module.modules():
        if isinstance(m, nn.GELU):
            m.approximate = "tanh"
    return module
