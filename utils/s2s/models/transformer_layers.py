"""The Transformer's layers (chapter 9): the encoder layer, the decoder layer and the
per-layer cache of incremental decoding.

Each layer is a stack of sublayers (self-attention; in the decoder, attention over the
encoder's outputs; a position-wise feed-forward network), each wrapped in a residual
connection with layer normalisation, in one of two places:

    post-norm (Vaswani et al. 2017, norm_first=False):  x = LayerNorm(x + Dropout(f(x)))
    pre-norm  (norm_first=True):                        x = x + Dropout(f(LayerNorm(x)))

Pre-norm leaves a path from the output to the input with no normalisation on it, which makes
deep stacks train without warmup; it needs one more LayerNorm after the last layer (the
encoder and decoder stacks add it). The parameter names follow `nn.TransformerEncoderLayer`
and `nn.TransformerDecoderLayer` (norm1, norm2, norm3) so weights can be copied across.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from s2s.models.multihead import MultiHeadAttention, causal_mask


class FeedForward(nn.Module):
    """The position-wise network: Linear(d, ff) -> ReLU -> Dropout -> Linear(ff, d)."""

    def __init__(self, size: int, ff_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(size, ff_size)
        self.linear2 = nn.Linear(ff_size, size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, d) -> (B, T, d), each position on its own."""
        return self.linear2(self.dropout(torch.relu(self.linear1(x))))


class Residual(nn.Module):
    """What both layers share: where the LayerNorm of a residual sublayer goes."""

    norm_first: bool
    dropout: nn.Dropout

    def before(self, x: Tensor, norm: nn.LayerNorm) -> Tensor:
        """The sublayer's input: LayerNorm(x) in pre-norm, x itself in post-norm."""
        return norm(x) if self.norm_first else x

    def after(self, x: Tensor, out: Tensor, norm: nn.LayerNorm) -> Tensor:
        """The residual sum of x (B, T, d) and the sublayer's output (B, T, d), normalised in
        post-norm."""
        x = x + self.dropout(out)
        return x if self.norm_first else norm(x)


class EncoderLayer(Residual):
    """Self-attention over the source, then the feed-forward network.

    Set `self_attn.keep_weights = True` to keep its per-head weights (B, h, S, S)."""

    def __init__(self, size: int, num_heads: int, ff_size: int, dropout: float = 0.0,
                 norm_first: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(size, num_heads, dropout)
        self.ff = FeedForward(size, ff_size, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(size), nn.LayerNorm(size)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, S, d); mask (B, 1, 1, S), True at real source tokens -> (B, S, d)."""
        y = self.before(x, self.norm1)
        x = self.after(x, self.self_attn(y, y, y, mask)[0], self.norm1)
        return self.after(x, self.ff(self.before(x, self.norm2)), self.norm2)


class LayerCache(NamedTuple):
    """What one decoder layer keeps between steps, each (B, h, *, d/h): its self-attention's
    keys and values of the t positions decoded so far, and its projections of the encoder's
    outputs (the same at every step, so computed once)."""

    keys: Tensor  # (B, h, t, d/h)
    values: Tensor  # (B, h, t, d/h)
    memory_keys: Tensor  # (B, h, S, d/h)
    memory_values: Tensor  # (B, h, S, d/h)

    def select(self, index: Tensor) -> LayerCache:
        """Batch rows `index` (B',) of every cached tensor: one index_select each."""
        return LayerCache(*(t.index_select(0, index) for t in self))


class DecoderLayer(Residual):
    """Masked self-attention over the target so far, attention over the encoder's outputs
    ("cross-attention"), then the feed-forward network.

    Set `self_attn.keep_weights` / `cross_attn.keep_weights` to keep their per-head weights,
    (B, h, T, t + T) and (B, h, T, S)."""

    def __init__(self, size: int, num_heads: int, ff_size: int, dropout: float = 0.0,
                 norm_first: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(size, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(size, num_heads, dropout)
        self.ff = FeedForward(size, ff_size, dropout)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(size) for _ in range(3))
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def start(self, memory: Tensor) -> LayerCache:
        """The cache before the first step: no positions yet; memory (B, S, d) projected."""
        memory_keys, memory_values = self.cross_attn.project_kv(memory, memory)
        empty = memory_keys[:, :, :0]  # (B, h, 0, d/h)
        return LayerCache(empty, empty, memory_keys, memory_values)

    def forward(self, x: Tensor, cache: LayerCache,
                memory_mask: Tensor) -> tuple[Tensor, LayerCache, Tensor]:
        """x (B, T, d): the T positions after the cache's t; memory_mask (B, 1, 1, S), True at
        real source tokens. Position i attends to the t cached ones and to new ones up to i.

        Returns (x (B, T, d), the cache grown to t + T positions, cross-attention weights
        (B, h, T, S))."""
        y = self.before(x, self.norm1)
        new_keys, new_values = self.self_attn.project_kv(y, y)  # (B, h, T, d/h) each
        keys = torch.cat([cache.keys, new_keys], dim=2)  # (B, h, t + T, d/h)
        values = torch.cat([cache.values, new_values], dim=2)
        past = cache.keys.shape[2]
        mask = causal_mask(x.shape[1], past, x.device)  # (T, t + T)
        x = self.after(x, self.self_attn.attend(y, keys, values, mask)[0], self.norm1)
        y = self.before(x, self.norm2)
        out, cross = self.cross_attn.attend(y, cache.memory_keys, cache.memory_values,
                                            memory_mask)  # (B, T, d), (B, h, T, S)
        x = self.after(x, out, self.norm2)
        x = self.after(x, self.ff(self.before(x, self.norm3)), self.norm3)
        return x, cache._replace(keys=keys, values=values), cross
