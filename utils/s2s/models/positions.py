"""Positions for the Transformer (chapter 9): attention alone does not see word order, so each
token's embedding gets a vector that says where it stands.

* sinusoidal (Vaswani et al. 2017, fixed): PE[p, 2i] = sin(p / 10000^(2i/d)),
  PE[p, 2i+1] = cos(p / 10000^(2i/d)); defined for any position, nothing learned.
* learned: one trained vector per position, up to a fixed number of positions.

Both take an `offset`: incremental decoding embeds one token at a time, the token at position
`offset` (the number already decoded).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

POSITION_KINDS = ("sinusoidal", "learned")


def sinusoids(length: int, size: int, offset: int = 0,
              device: torch.device | str | None = None) -> Tensor:
    """The sinusoidal encodings of positions offset .. offset + length - 1: (length, size).

    size must be even: each frequency gives a sine and a cosine."""
    positions = torch.arange(offset, offset + length, device=device, dtype=torch.float)  # (T,)
    rates = torch.exp(torch.arange(0, size, 2, device=device, dtype=torch.float)
                      * (-math.log(10000.0) / size))  # (d/2,) 1 / 10000^(2i/d)
    angles = positions[:, None] * rates[None, :]  # (T, d/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).view(length, size)  # interleaved


class SinusoidalPositions(nn.Module):
    """Fixed sinusoids, computed when asked (no weights, nothing in the state dict)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, length: int, offset: int, device: torch.device) -> Tensor:
        """-> (length, size): the encodings of positions offset .. offset + length - 1."""
        return sinusoids(length, self.size, offset, device)


class LearnedPositions(nn.Module):
    """One learned vector per position 0 .. max_positions - 1."""

    def __init__(self, max_positions: int, size: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_positions, size)
        nn.init.normal_(self.table.weight, std=size ** -0.5)

    def forward(self, length: int, offset: int, device: torch.device) -> Tensor:
        """-> (length, size): the vectors of positions offset .. offset + length - 1."""
        limit = self.table.num_embeddings
        if offset + length > limit:
            raise ValueError(f"position {offset + length - 1} is beyond the {limit} learned "
                             "positions (2 * max_len + 11, for the config's max_len): keep "
                             "sources and outputs within them (decode with a smaller max_len), "
                             "or use positions='sinusoidal'")
        return self.table(torch.arange(offset, offset + length, device=device))


def learned_positions(max_len: int) -> int:
    """How many positions a learned table holds for a model trained on sources of up to
    `max_len` tokens: 2 * max_len + 11, enough for `s2s.decoding.output_limit`'s default
    output of 2 * max_len + 10 tokens after <bos> (and for any source the data keeps)."""
    return 2 * max_len + 11


class PositionalEmbedding(nn.Module):
    """Token embeddings scaled by sqrt(d), plus positions, then dropout (when `embed_dropout`).

    The embeddings start at N(0, 1/d), so the scaled ones have unit variance, the scale of
    the position vectors. <pad> (id 0) embeds to zeros."""

    def __init__(self, vocab_size: int, size: int, positions: str, max_len: int,
                 dropout: float = 0.0, embed_dropout: bool = True) -> None:
        super().__init__()
        if positions not in POSITION_KINDS:
            raise ValueError(f"positions={positions!r}: choose one of {POSITION_KINDS}")
        self.embedding = nn.Embedding(vocab_size, size, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=size ** -0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.positions = (SinusoidalPositions(size) if positions == "sinusoidal"
                          else LearnedPositions(learned_positions(max_len), size))
        self.dropout = nn.Dropout(dropout if embed_dropout else 0.0)
        self.scale = math.sqrt(size)

    def forward(self, tokens: Tensor, offset: int = 0) -> Tensor:
        """tokens (B, T), the first at position `offset` -> (B, T, d)."""
        emb = self.embedding(tokens) * self.scale  # (B, T, d)
        where = self.positions(tokens.shape[1], offset, tokens.device)  # (T, d)
        return self.dropout(emb + where.to(emb.dtype))
