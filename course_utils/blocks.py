"""A compact reference Transformer block, built on torch's own fused attention.

Notebooks 03–05 use it so that they do not depend on a student's notebook-02 code, and so that
training is fast. It is not a notebook-02 answer: it uses ``F.scaled_dot_product_attention``, which
notebook 02 forbids, and it has a different interface.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused QKV projection."""

    def __init__(self, dim, num_heads, dropout=0.0):
        super().__init__()
        assert dim % num_heads == 0, "dim must be divisible by num_heads"
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x, attn_mask=None, need_weights=False):
        """x: (B, T, dim); attn_mask: bool, True = may attend, broadcastable to (B, h, T, T).
        Returns y (B, T, dim), and the attention maps (B, h, T, T) if ``need_weights``."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)  # (B, h, T, hd) each
        if need_weights:  # explicit path, for plots
            scores = q @ k.transpose(-2, -1) / (C // self.num_heads) ** 0.5
            if attn_mask is not None:
                scores = scores.masked_fill(~attn_mask, float("-inf"))
            A = scores.softmax(dim=-1)
            y = A @ v
        else:
            A = None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                               dropout_p=self.dropout if self.training else 0.0)
        y = self.proj(y.transpose(1, 2).reshape(B, T, C))
        return y, A


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim, num_heads, mlp_dim, dropout=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim), nn.Dropout(dropout))

    def forward(self, x, attn_mask=None, need_weights=False):
        y, A = self.attn(self.norm1(x), attn_mask, need_weights)
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return (x, A) if need_weights else x
