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

    Pass the same cache to every forward call while generating: each attention layer appends
    the keys and values of the new tokens and attends over all of them.
    """

    def __init__(self):
        self.layers = {}

    def update(self, layer, k, v):
        """Append ``k``, ``v`` (B, h, T_new, hd) for ``layer``; return all keys and values so far."""
        if layer in self.layers:
            k_old, v_old = self.layers[layer]
            k, v = torch.cat([k_old, k], dim=2), torch.cat([v_old, v], dim=2)
        self.layers[layer] = (k, v)
        return k, v

    def __len__(self):
        """Number of cached positions (0 before the first call)."""
        if not self.layers:
            return 0
        k, _ = next(iter(self.layers.values()))
        return k.shape[2]


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
    """Multi-head self-attention with a fused QKV projection; ``attn_dim`` is the size of each head."""

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
        y, A = attend(q, k, v, attn_mask, need_weights, self.dropout if self.training else 0.0)
        y = self.proj(y.transpose(1, 2).reshape(B, T, self.num_heads * self.attn_dim))
        return y, A


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
    """Pre-norm Transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim, num_heads, mlp_dim, dropout=0.0, attn_dim=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, attn_dim, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim), nn.Dropout(dropout))

    def forward(self, x, attn_mask=None, need_weights=False, cache=None):
        """Returns x, or (x, attention maps) if ``need_weights``."""
        y, A = self.attn(self.norm1(x), attn_mask, need_weights, cache)
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return (x, A) if need_weights else x
