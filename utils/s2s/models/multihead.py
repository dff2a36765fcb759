"""The Transformer's attention (chapter 9): scaled dot-product attention, multi-head attention,
and the padding and causal masks.

Chapter 4 scored a query q against a key k with `dot` (q . k), its scaled form
q . k / sqrt(d), or `general` (q^T W k). The Transformer uses the scaled dot product, for all
query positions at once, as one matrix product:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V      Q (T_q, d_k), K (T_k, d_k), V (T_k, d_v)

Multi-head attention first projects queries, keys and values with learned matrices, once per
head: head i scores (W_q^i q) . (W_k^i k) / sqrt(d_k) = q^T (W_q^i)^T W_k^i k / sqrt(d_k), which
is chapter 4's `general` score with a matrix W = (W_q^i)^T W_k^i of rank at most d_k, scaled.
Each head has its own W, so each can attend to something else; the heads' outputs are
concatenated and projected back to the model's width.

Masks are boolean and True where attention is allowed (the convention of
`s2s.attention.masked_softmax`, whose softmax this module uses; PyTorch's own modules take the
opposite: True = masked out). Masked scores are *filled* (not added to) with the most negative
finite value of the scores' dtype, never -inf, and the weights are multiplied by the mask after
the softmax: in bf16 or fp16 nothing overflows to -inf and a row with no allowed key gives zeros,
not NaN.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from s2s.attention import masked_softmax


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                                 dropout: nn.Module | None = None) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(d_k)) v, over the last two axes, for any leading axes.

    q: (..., T_q, d_k); k: (..., T_k, d_k); v: (..., T_k, d_v); mask: broadcastable to
    (..., T_q, T_k), True = may attend (None: everything). Returns (context (..., T_q, d_v),
    weights (..., T_q, T_k)); `dropout` (if given) drops weights before they mix the values,
    and the weights returned are those before dropout."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is None:
        weights = scores.softmax(dim=-1)
    else:
        mask = mask.expand(scores.shape)  # masked_softmax needs the scores' rank
        weights = masked_softmax(scores, mask)  # (..., T_q, T_k), 0 where masked
    mixed = dropout(weights) if dropout is not None else weights
    return mixed @ v, weights  # (..., T_q, d_v)


class MultiHeadAttention(nn.Module):
    """h heads of scaled dot-product attention on learned projections of width d/h each.

    Set `keep_weights = True` to keep each call's per-head weights in `self.weights`,
    (B, h, T_q, T_k), detached (for heatmaps); off by default, so training keeps nothing."""

    def __init__(self, size: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if size % num_heads:
            raise ValueError(f"the model's width {size} is not divisible by num_heads="
                             f"{num_heads}: choose a width that is a multiple of num_heads")
        self.num_heads, self.head_size = num_heads, size // num_heads
        self.q_proj = nn.Linear(size, size)
        self.k_proj = nn.Linear(size, size)
        self.v_proj = nn.Linear(size, size)
        self.out_proj = nn.Linear(size, size)
        self.dropout = nn.Dropout(dropout)
        self.keep_weights = False
        self.weights: Tensor | None = None

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, d) -> (B, h, T, d/h)."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)

    def merge_heads(self, x: Tensor) -> Tensor:
        """(B, h, T, d/h) -> (B, T, d)."""
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_size)

    def project_kv(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """key, value: (B, T_k, d) -> the heads' keys and values, each (B, h, T_k, d/h).

        What incremental decoding caches: they do not depend on the query."""
        return self.split_heads(self.k_proj(key)), self.split_heads(self.v_proj(value))

    def attend(self, query: Tensor, k: Tensor, v: Tensor,
               mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """query (B, T_q, d) against projected k, v (B, h, T_k, d/h) from `project_kv`;
        mask broadcastable to (B, h, T_q, T_k), True = may attend.

        Returns (output (B, T_q, d), weights (B, h, T_q, T_k))."""
        q = self.split_heads(self.q_proj(query))  # (B, h, T_q, d/h)
        context, weights = scaled_dot_product_attention(q, k, v, mask, self.dropout)
        if self.keep_weights:
            self.weights = weights.detach()
        return self.out_proj(self.merge_heads(context)), weights  # (B, T_q, d)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """query (B, T_q, d); key, value (B, T_k, d); mask as in `attend`.

        Returns (output (B, T_q, d), weights (B, h, T_q, T_k))."""
        k, v = self.project_kv(key, value)
        return self.attend(query, k, v, mask)


def padding_mask(lengths: Tensor, width: int) -> Tensor:
    """lengths (B,) -> (B, width), True at each sequence's real positions (before its padding)."""
    positions = torch.arange(width, device=lengths.device)  # (width,)
    return positions[None, :] < lengths[:, None]


def key_mask(mask: Tensor) -> Tensor:
    """A (B, T_k) padding mask as attention's (B, h, T_q, T_k) broadcasts it: (B, 1, 1, T_k)."""
    return mask[:, None, None, :]


def causal_mask(length: int, past: int = 0, device: torch.device | str | None = None) -> Tensor:
    """(length, past + length): query i (the position past + i) may attend keys 0 .. past + i.

    `past` counts positions already decoded (cached keys): past=0 is teacher forcing over a
    whole target; a step of incremental decoding is length=1, where nothing is masked."""
    query = torch.arange(length, device=device)[:, None] + past  # (length, 1)
    return torch.arange(past + length, device=device)[None, :] <= query  # (length, past+length)
