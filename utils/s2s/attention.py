"""Attention: scoring functions and the masked softmax that turns scores into weights.

An attention layer scores every key against a query, turns the scores into weights that sum
to one over the *real* (unpadded) keys, and returns the weighted sum of the values:

    scores  = score(queries (B, T_q, D_q), keys (B, T_k, D_k))     -> (B, T_q, T_k)
    weights = masked_softmax(scores, mask (B, T_k))                 -> (B, T_q, T_k)
    context = weights @ values (B, T_k, D_v)                        -> (B, T_q, D_v)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last axis, ignoring positions where mask is False.

    scores: (B, T_q, T_k); mask: (B, T_k) or (B, T_q, T_k), True = keep.
    Rows with no kept position return all zeros (not uniform weights). No in-place writes."""
    if mask.dim() == 2:
        mask = mask[:, None, :]  # (B, 1, T_k): the same keys for every query
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return F.softmax(filled, dim=-1) * mask  # masked positions, and empty rows, are exactly 0


class Score(nn.Module):
    """A scoring function: `score(queries, keys)` -> scores (B, T_q, T_k). What it does to
    the keys alone (a projection W_k k, say) does not depend on the query: a decoder that
    scores the same keys at every step computes that once per sentence with `precompute`
    and then calls `score(queries, projected_keys, precomputed=True)` at each step (a call of
    the module either way, so its forward hooks see every score). Each score writes
    `score_precomputed`; one with a key projection writes `precompute` too (by default the
    keys are taken as they are: dot products, concat)."""

    def forward(self, queries: Tensor, keys: Tensor, *, precomputed: bool = False) -> Tensor:
        """queries (B, T_q, D_q), keys (B, T_k, D_k) — or, with precomputed=True, what
        `precompute` made of them — -> scores (B, T_q, T_k)."""
        return self.score_precomputed(queries, keys if precomputed else self.precompute(keys))

    def precompute(self, keys: Tensor) -> Tensor:
        """keys (B, T_k, D_k) -> what `score_precomputed` takes (here: the keys themselves)."""
        return keys

    def score_precomputed(self, queries: Tensor, projected_keys: Tensor) -> Tensor:
        """queries (B, T_q, D_q), projected_keys from `precompute` -> scores (B, T_q, T_k)."""
        raise NotImplementedError


class AdditiveScore(Score):
    """Bahdanau: w_v^T tanh(W_q q + W_k k). The query and key sizes may differ. W_k k is the
    part `precompute` computes once."""

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.w_v = nn.Linear(hidden_size, 1, bias=False)

    def precompute(self, keys: Tensor) -> Tensor:
        """W_k k for all keys: (B, T_k, D_k) -> (B, T_k, H), constant while decoding one
        sentence."""
        return self.W_k(keys)

    def score_precomputed(self, queries: Tensor, projected_keys: Tensor) -> Tensor:
        """queries (B, T_q, D_q), projected_keys (B, T_k, H) from `precompute` -> scores
        (B, T_q, T_k)."""
        features = self.W_q(queries)[:, :, None, :] + projected_keys[:, None, :, :]  # (B,Tq,Tk,H)
        return self.w_v(torch.tanh(features)).squeeze(-1)  # (B, T_q, T_k)


class DotScore(Score):
    """Luong dot: q . k (query and key of the same size)."""

    def score_precomputed(self, queries: Tensor, keys: Tensor) -> Tensor:
        return queries @ keys.transpose(1, 2)  # (B, T_q, T_k)


class ScaledDotScore(Score):
    """q . k / sqrt(d): keeps the scores' variance near 1 as d grows (Vaswani et al.)."""

    def score_precomputed(self, queries: Tensor, keys: Tensor) -> Tensor:
        return queries @ keys.transpose(1, 2) / math.sqrt(queries.shape[-1])


class GeneralScore(Score):
    """Luong general: q^T W k, for query and key sizes that may differ (W k: `precompute`)."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.W = nn.Linear(key_size, query_size, bias=False)

    def precompute(self, keys: Tensor) -> Tensor:
        """W k for all keys: (B, T_k, D_k) -> (B, T_k, D_q)."""
        return self.W(keys)

    def score_precomputed(self, queries: Tensor, projected_keys: Tensor) -> Tensor:
        return queries @ projected_keys.transpose(1, 2)  # (B, T_q, T_k)


class ScaledGeneralScore(GeneralScore):
    """Luong general divided by sqrt(d_q): q^T W k / sqrt(d). The unscaled `general` score
    collapses onto single source positions in the course's Luong model (benchmarks/
    attention_scores.py: 7.17 valid BLEU, row entropy 0.008 nats after 600 steps at the `cpu`
    profile); scaled as the Transformer scales its dot product it reached 16.26 BLEU, 0.147 nats
    (the additive score: 20.54, 0.715)."""

    def score_precomputed(self, queries: Tensor, projected_keys: Tensor) -> Tensor:
        scores = super().score_precomputed(queries, projected_keys)  # (B, T_q, T_k)
        return scores / math.sqrt(queries.shape[-1])


class ConcatScore(Score):
    """Luong concat: v^T tanh(W [q; k])."""

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        self.W = nn.Linear(query_size + key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def score_precomputed(self, queries: Tensor, keys: Tensor) -> Tensor:
        tq, tk = queries.shape[1], keys.shape[1]
        pairs = torch.cat([queries[:, :, None, :].expand(-1, -1, tk, -1),
                           keys[:, None, :, :].expand(-1, tq, -1, -1)], dim=-1)  # (B,Tq,Tk,Dq+Dk)
        return self.v(torch.tanh(self.W(pairs))).squeeze(-1)  # (B, T_q, T_k)


SCORES = ("additive", "dot", "scaled_dot", "general", "scaled_general", "concat")  # make_score's


def make_score(kind: str, query_size: int, key_size: int, hidden_size: int) -> Score:
    """A scoring module by name: one of SCORES."""
    if kind in ("dot", "scaled_dot") and query_size != key_size:
        raise ValueError(f"{kind} attention needs query and key of one size, got "
                         f"{query_size} and {key_size}: use 'general' or 'additive'")
    builders = {
        "additive": lambda: AdditiveScore(query_size, key_size, hidden_size),
        "dot": DotScore,
        "scaled_dot": ScaledDotScore,
        "general": lambda: GeneralScore(query_size, key_size),
        "scaled_general": lambda: ScaledGeneralScore(query_size, key_size),
        "concat": lambda: ConcatScore(query_size, key_size, hidden_size),
    }
    if kind not in builders:
        raise ValueError(f"unknown attention score {kind!r}: choose one of {sorted(builders)}")
    return builders[kind]()


class Attention(nn.Module):
    """Score, masked softmax, weighted sum. Returns (context (B, T_q, D_v), weights)."""

    def __init__(self, score: Score, dropout: float = 0.0) -> None:
        super().__init__()
        self.score = score
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor, mask: Tensor, *,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """queries (B, T_q, D_q); keys (B, T_k, D_k); values (B, T_k, D_v); mask (B, T_k).
        projected_keys: `self.score.precompute(keys)` ((B, T_k, ...): W_k k for the additive
        score, W k for general), when the caller kept it from an earlier call on the same keys
        (then `keys` is not read)."""
        scores = (self.score(queries, keys) if projected_keys is None
                  else self.score(queries, projected_keys, precomputed=True))  # (B, T_q, T_k)
        weights = masked_softmax(scores, mask)
        return self.dropout(weights) @ values, weights
