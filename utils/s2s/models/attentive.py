"""Attention decoders (chapter 4): Bahdanau, and Luong with or without input feeding.

Both read a (usually bidirectional) `RNNEncoder`'s outputs through `s2s.attention`, and keep
the attention weights of their last call in the state, for heatmaps.

* Bahdanau et al. (2015): the query is the decoder's previous top hidden state; the context
  goes into the RNN's input. Each step needs the previous step's state: it runs step by step.
* Luong et al. (2015): the RNN runs first; its output h_t queries the encoder; the output is
  h~_t = tanh(W_c [c_t; h_t]). Without input feeding the RNN does not depend on attention, so
  the whole target runs in one RNN call and attention is one batched matmul. With input
  feeding (CS224n), h~_{t-1} joins the next input, and it runs step by step again.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from s2s.attention import SCORES, AdditiveScore, Attention, make_score, masked_softmax
from s2s.models.base import Decoder, Encoder, ModelConfig, register
from s2s.models.rnn import (
    RNNEncoder,
    RNNHidden,
    embed,
    init_weights,
    make_rnn,
    rnn_step,
    select_hidden,
    top_layer,
)


def _rows(t: Tensor | None, index: Tensor) -> Tensor | None:
    """Batch rows `index` (B',) of a batch-first tensor, or None."""
    return None if t is None else t.index_select(0, index)


class AttentionState(NamedTuple):
    """State of an attention decoder (an `AttendingState`). Batch is dim 0 everywhere except
    in `hidden` (dim 1)."""

    memory: Tensor  # (B, S, H_enc): encoder outputs, the keys and values of attention
    mask: Tensor  # (B, S): True at real source tokens
    hidden: RNNHidden  # (L, B, H) or LSTM (h, c)
    feed: Tensor | None  # (B, H): Luong's previous attentional vector h~ (input feeding)
    weights: Tensor | None  # (B, T, S): attention weights of the last call
    keys: Tensor | None = None  # the score's projected keys, made once per sentence: (B, S,
    # H_att) additive W_k memory, (B, S, H_dec) general W memory; None when a score projects
    # nothing (dot, concat)

    def select(self, index: Tensor) -> AttentionState:
        """Keep/reorder batch rows: index (B',) -> a state of batch size B' (beam search)."""
        return AttentionState(_rows(self.memory, index), _rows(self.mask, index),
                              select_hidden(self.hidden, index), _rows(self.feed, index),
                              _rows(self.weights, index), _rows(self.keys, index))


def source_mask(memory: Tensor, src_len: Tensor) -> Tensor:
    """memory (B, S, H), src_len (B,) -> mask (B, S), True at the real source tokens."""
    positions = torch.arange(memory.shape[1], device=memory.device)  # (S,)
    return positions[None, :] < src_len.to(memory.device)[:, None]


class BahdanauDecoder(Decoder):
    """Additive attention queried by the previous decoder state; context fed into the RNN."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, memory_size: int,
                 num_layers: int = 1, dropout: float = 0.0, cell: str = "gru", *,
                 embed_dropout: bool = True) -> None:
        super().__init__()
        self.embed_dropout = embed_dropout
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.score = AdditiveScore(hidden_size, memory_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.rnn = make_rnn(cell, embed_size + memory_size, hidden_size, num_layers, dropout)
        self.out = nn.Linear(hidden_size, vocab_size)
        self.apply(init_weights)

    def init_state(self, enc_outputs: tuple[Tensor, RNNHidden], src_len: Tensor) -> AttentionState:
        memory, hidden = enc_outputs
        return AttentionState(memory, source_mask(memory, src_len), hidden, None, None,
                              self.score.precompute(memory))

    def forward(self, tgt_in: Tensor, state: AttentionState) -> tuple[Tensor, AttentionState]:
        emb = embed(self, tgt_in)  # (B, T, E)
        hidden, outputs, weights = state.hidden, [], []
        for t in range(tgt_in.shape[1]):
            query = top_layer(hidden)[:, None, :]  # (B, 1, H)
            scores = self.score(query, state.keys, precomputed=True)  # (B, 1, S)
            w = masked_softmax(scores, state.mask)  # (B, 1, S)
            context = w @ state.memory  # (B, 1, H_enc)
            out, hidden = rnn_step(self.rnn, torch.cat([emb[:, t], context[:, 0]], -1), hidden)
            outputs.append(out[:, None])  # (B, 1, H)
            weights.append(w)  # (B, 1, S)
        logits = self.out(self.dropout(torch.cat(outputs, dim=1)))  # (B, T, V)
        return logits, state._replace(hidden=hidden, weights=torch.cat(weights, dim=1))


class LuongDecoder(Decoder):
    """Global attention after the RNN, combined output tanh(W_c [c; h]); optional input feeding.

    Without input feeding, `forward` runs the RNN over the whole target in one call and
    attends for all positions in one batched matmul.

    feed_dropped=True feeds the next step the combined output *after* dropout, as CS224n's
    o_t = dropout(tanh(W_u [a_t; h_t])) (chapter 7); the default feeds it before dropout.
    The two differ only in training. out_bias=False: CS224n's vocabulary projection has none."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, memory_size: int,
                 num_layers: int = 1, dropout: float = 0.0, cell: str = "gru",
                 score: str = "general", input_feeding: bool = False, *,
                 feed_dropped: bool = False, out_bias: bool = True,
                 embed_dropout: bool = True) -> None:
        super().__init__()
        self.input_feeding, self.feed_dropped = input_feeding, feed_dropped
        self.embed_dropout = embed_dropout
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        rnn_input = embed_size + (hidden_size if input_feeding else 0)
        self.rnn = make_rnn(cell, rnn_input, hidden_size, num_layers, dropout)
        self.attention = Attention(make_score(score, hidden_size, memory_size, hidden_size))
        self.combine = nn.Linear(memory_size + hidden_size, hidden_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, vocab_size, bias=out_bias)
        self.apply(init_weights)

    def init_state(self, enc_outputs: tuple[Tensor, RNNHidden], src_len: Tensor) -> AttentionState:
        memory, hidden = enc_outputs
        feed = memory.new_zeros(memory.shape[0], self.out.in_features) if self.input_feeding \
            else None
        keys = self.attention.score.precompute(memory)
        return AttentionState(memory, source_mask(memory, src_len), hidden, feed, None,
                              None if keys is memory else keys)

    def _attend(self, h: Tensor, state: AttentionState) -> tuple[Tensor, Tensor]:
        """h: (B, T, H) RNN outputs -> attentional vectors h~ (B, T, H), weights (B, T, S)."""
        context, weights = self.attention(h, state.memory, state.memory, state.mask,
                                          projected_keys=state.keys)
        return torch.tanh(self.combine(torch.cat([context, h], dim=-1))), weights

    def forward(self, tgt_in: Tensor, state: AttentionState) -> tuple[Tensor, AttentionState]:
        emb = embed(self, tgt_in)  # (B, T, E)
        if not self.input_feeding:  # in parallel over time
            h, hidden = self.rnn(emb, state.hidden)  # (B, T, H): one call for all steps
            attentional, weights = self._attend(h, state)  # one batched matmul
            logits = self.out(self.dropout(attentional))  # (B, T, V)
            return logits, state._replace(hidden=hidden, weights=weights)
        hidden, feed, outs, weights = state.hidden, state.feed, [], []
        for t in range(tgt_in.shape[1]):  # step by step: the input needs the last h~
            h, hidden = rnn_step(self.rnn, torch.cat([emb[:, t], feed], dim=-1), hidden)
            attentional, w = self._attend(h[:, None], state)  # (B, 1, H), (B, 1, S)
            if self.feed_dropped:  # CS224n: o_t = dropout(h~_t) is both output and feed
                attentional = self.dropout(attentional)
            feed = attentional[:, 0]
            outs.append(attentional)
            weights.append(w)
        outs = torch.cat(outs, dim=1)  # (B, T, H)
        logits = self.out(outs if self.feed_dropped else self.dropout(outs))
        return logits, state._replace(hidden=hidden, feed=feed, weights=torch.cat(weights, 1))


def _encoder(c: ModelConfig) -> RNNEncoder:
    return RNNEncoder(c.src_vocab_size, c.embed_size, c.hidden_size, c.num_layers, c.dropout,
                      c.cell, c.bidirectional, embed_dropout=c.embed_dropout)


def memory_size(c: ModelConfig) -> int:
    """The size of each encoder output the decoder attends to (both directions' states)."""
    return c.hidden_size * (2 if c.bidirectional else 1)


def _check_bahdanau(c: ModelConfig) -> list[str]:
    problems = []
    if c.attention not in ("", "additive"):
        problems.append(f"attention={c.attention!r} is ignored: the Bahdanau decoder always uses "
                        "the additive score (leave attention unset or 'additive', or use "
                        "kind='luong' for other scores)")
    if c.input_feeding:
        problems.append("input_feeding=True is ignored: the Bahdanau decoder feeds the context "
                        "into its RNN already (leave it False, or use kind='luong')")
    return problems


def check_luong(c: ModelConfig) -> list[str]:
    """What is wrong with a Luong model's config (empty when nothing is)."""
    if c.attention and c.attention not in SCORES:
        return [f"unknown attention score {c.attention!r}: choose one of {', '.join(SCORES)} "
                "(unset: 'general')"]
    return []


@register("bahdanau", _check_bahdanau)
def _build_bahdanau(c: ModelConfig) -> tuple[Encoder, Decoder]:
    return _encoder(c), BahdanauDecoder(c.tgt_vocab_size, c.embed_size, c.hidden_size,
                                        memory_size(c), c.num_layers, c.dropout, c.cell,
                                        embed_dropout=c.embed_dropout)


@register("luong", check_luong)
def _build_luong(c: ModelConfig) -> tuple[Encoder, Decoder]:
    return _encoder(c), LuongDecoder(c.tgt_vocab_size, c.embed_size, c.hidden_size,
                                     memory_size(c), c.num_layers, c.dropout, c.cell,
                                     c.attention or "general", c.input_feeding,
                                     embed_dropout=c.embed_dropout)
