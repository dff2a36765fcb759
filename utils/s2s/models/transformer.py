"""The Transformer (Vaswani et al. 2017) on the course's interface: the model kind
"transformer" (chapter 9).

    encoder  x = Embed(src) * sqrt(d) + positions;  N x EncoderLayer;  (B, S, d)
    decoder  y = Embed(tgt) * sqrt(d) + positions;  N x DecoderLayer(y, encoder outputs);
             logits = Linear(y)                                                   (B, T, V)

(pre-norm adds a LayerNorm after each stack). The pieces: `s2s.models.multihead` (attention,
masks), `s2s.models.positions`, `s2s.models.transformer_layers`.

Incremental decoding. The decoder's state (`TransformerState`) holds, for each layer, the
keys and values of the positions decoded so far, and the layer's projections of the encoder's
outputs. `forward` embeds its T tokens at positions t .. t + T - 1 after the state's t, lets
each attend to the cached positions and to the new ones up to itself (the causal mask), and
returns the state grown by T positions; `step` is `forward` on one token, so a step costs one
position, not the whole prefix. Teacher forcing (forward from the initial state) computes what
steps one by one compute. `select` reorders every cached tensor (beam search).

Config (`ModelConfig`): hidden_size is the model's width d (embed_size must equal it),
num_layers the layers of each stack, num_heads, ff_size (0: 4 * d), norm_first (pre-norm),
positions ("sinusoidal" or "learned"), dropout (attention weights, feed-forward, residuals and,
with embed_dropout, the embeddings).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from s2s.models.base import Decoder, Encoder, EncoderDecoder, ModelConfig, register
from s2s.models.multihead import MultiHeadAttention, key_mask, padding_mask
from s2s.models.positions import POSITION_KINDS, PositionalEmbedding
from s2s.models.rnn import init_weights
from s2s.models.transformer_layers import DecoderLayer, EncoderLayer, LayerCache


class TransformerEncoder(Encoder):
    """Embeddings with positions, then `num_layers` encoder layers.

    outputs: (B, S, d), zero at padded positions; state: the padding mask (B, S), True at real
    tokens (a Transformer's encoder has no summary vector)."""

    def __init__(self, vocab_size: int, size: int, num_layers: int, num_heads: int,
                 ff_size: int, dropout: float = 0.0, norm_first: bool = False,
                 positions: str = "sinusoidal", max_len: int = 50, *,
                 embed_dropout: bool = True) -> None:
        super().__init__()
        self.embed = PositionalEmbedding(vocab_size, size, positions, max_len, dropout,
                                         embed_dropout)
        self.layers = nn.ModuleList(EncoderLayer(size, num_heads, ff_size, dropout, norm_first)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(size) if norm_first else nn.Identity()
        self.apply(init_weights)

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        mask = padding_mask(src_len.to(src.device), src.shape[1])  # (B, S)
        x = self.embed(src)  # (B, S, d)
        for layer in self.layers:
            x = layer(x, key_mask(mask))
        return self.norm(x).masked_fill(~mask[..., None], 0.0), mask


class TransformerState(NamedTuple):
    """The Transformer decoder's state (an `AttendingState`)."""

    mask: Tensor  # (B, S): True at real source tokens
    layers: tuple[LayerCache, ...]  # per decoder layer: cached keys/values, see LayerCache
    weights: Tensor | None  # (B, T, S): the last layer's cross-attention in the last call,
    #                         averaged over heads (per head: `attention_maps`)

    @property
    def length(self) -> int:
        """t: how many target positions the cache holds."""
        return self.layers[0].keys.shape[2]

    def select(self, index: Tensor) -> TransformerState:
        """Keep/reorder batch rows: index (B',) -> a state of batch size B' (beam search)."""
        weights = None if self.weights is None else self.weights.index_select(0, index)
        return TransformerState(self.mask.index_select(0, index),
                                tuple(cache.select(index) for cache in self.layers), weights)


class TransformerDecoder(Decoder):
    """Embeddings with positions, `num_layers` decoder layers, a linear layer to the logits."""

    def __init__(self, vocab_size: int, size: int, num_layers: int, num_heads: int,
                 ff_size: int, dropout: float = 0.0, norm_first: bool = False,
                 positions: str = "sinusoidal", max_len: int = 50, *,
                 embed_dropout: bool = True) -> None:
        super().__init__()
        self.embed = PositionalEmbedding(vocab_size, size, positions, max_len, dropout,
                                         embed_dropout)
        self.layers = nn.ModuleList(DecoderLayer(size, num_heads, ff_size, dropout, norm_first)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(size) if norm_first else nn.Identity()
        self.out = nn.Linear(size, vocab_size)
        self.apply(init_weights)

    def init_state(self, enc_outputs: tuple[Tensor, Tensor], src_len: Tensor) -> TransformerState:
        memory, _ = enc_outputs  # (B, S, d)
        mask = padding_mask(src_len.to(memory.device), memory.shape[1])  # (B, S)
        return TransformerState(mask, tuple(layer.start(memory) for layer in self.layers), None)

    def forward(self, tgt_in: Tensor, state: TransformerState) -> tuple[Tensor, TransformerState]:
        """tgt_in (B, T): the tokens at positions t .. t + T - 1 after the state's t (t = 0 from
        `init_state`: teacher forcing). Returns logits (B, T, V) and the state grown by T.

        No target padding mask is needed: padding comes after a sentence's real tokens, and
        the causal mask keeps every real position from attending to later ones."""
        x = self.embed(tgt_in, offset=state.length)  # (B, T, d)
        caches = []
        for layer, cache in zip(self.layers, state.layers, strict=True):
            x, cache, cross = layer(x, cache, key_mask(state.mask))  # cross (B, h, T, S)
            caches.append(cache)
        logits = self.out(self.norm(x))  # (B, T, V)
        return logits, TransformerState(state.mask, tuple(caches), cross.mean(1).detach())


@torch.no_grad()
def attention_maps(model: EncoderDecoder, src: Tensor, src_len: Tensor,
                   tgt_in: Tensor) -> dict[str, Tensor]:
    """Every attention's per-head weights in one teacher-forced pass, by module name:

        "encoder.layers.i.self_attn"   (B, h, S, S)
        "decoder.layers.i.self_attn"   (B, h, T, T)   zero above the diagonal (causal)
        "decoder.layers.i.cross_attn"  (B, h, T, S)   zero at padded source positions

    src (B, S), src_len (B,), tgt_in (B, T) = <bos> y_1 ... (evaluation mode, no dropout)."""
    heads = {name: m for name, m in model.named_modules() if isinstance(m, MultiHeadAttention)}
    if not heads:
        raise ValueError(f"{type(model).__name__} has no multi-head attention: attention_maps "
                         "reads a Transformer (kind='transformer')")
    model.eval()
    for module in heads.values():
        module.keep_weights = True
    try:
        model(src, src_len, tgt_in)
    finally:
        for module in heads.values():
            module.keep_weights = False
    return {name: module.weights for name, module in heads.items()}


def ff_width(c: ModelConfig) -> int:
    """The feed-forward layer's inner width: ff_size, or 4 * hidden_size when it is 0."""
    return c.ff_size or 4 * c.hidden_size


def _check_transformer(c: ModelConfig) -> list[str]:
    problems = [f"{field}={value!r} is ignored: {why}" for field, value, why in (
        ("attention", c.attention, "the Transformer always attends with the scaled dot "
         "product (leave attention unset)"),
        ("input_feeding", c.input_feeding, "the Transformer's decoder attends to its own "
         "earlier positions already (leave it False)"),
        ("bidirectional", c.bidirectional, "the encoder's self-attention sees the whole "
         "source in both directions already (leave it False)"),
        ("cell", c.cell if c.cell != "gru" else "", "the Transformer has no recurrent cell "
         "(leave cell unset)")) if value]
    if c.embed_size != c.hidden_size:
        problems.append(f"embed_size={c.embed_size} differs from hidden_size={c.hidden_size}: "
                        "the Transformer adds each sublayer's output to its input, so the "
                        f"embeddings have the model's width (set embed_size={c.hidden_size})")
    return problems + _size_problems(c)


def _size_problems(c: ModelConfig) -> list[str]:
    problems = []
    if c.num_layers < 1:
        problems.append(f"num_layers={c.num_layers}: the encoder and decoder need at least "
                        "one layer each")
    if c.num_heads < 1:
        problems.append(f"num_heads={c.num_heads}: attention needs at least one head")
    elif c.hidden_size % c.num_heads:
        divisors = [h for h in range(1, min(c.hidden_size, 16) + 1) if c.hidden_size % h == 0]
        problems.append(f"hidden_size={c.hidden_size} is not divisible by num_heads="
                        f"{c.num_heads}: each head attends in hidden_size / num_heads "
                        f"dimensions (choose num_heads among {divisors}, or another "
                        "hidden_size)")
    if c.ff_size < 0:
        problems.append(f"ff_size={c.ff_size}: give the feed-forward layer's width, or 0 for "
                        "4 * hidden_size")
    if c.positions not in POSITION_KINDS:
        problems.append(f"positions={c.positions!r}: choose one of {', '.join(POSITION_KINDS)}")
    elif c.positions == "sinusoidal" and c.hidden_size % 2:
        problems.append(f"hidden_size={c.hidden_size} is odd: sinusoidal positions pair a sine "
                        "with a cosine (choose an even hidden_size, or positions='learned')")
    return problems


@register("transformer", _check_transformer,
          owns=("num_heads", "ff_size", "norm_first", "positions"))
def _build_transformer(c: ModelConfig) -> tuple[Encoder, Decoder]:
    sizes = (c.hidden_size, c.num_layers, c.num_heads, ff_width(c), c.dropout, c.norm_first,
             c.positions, c.max_len)
    return (TransformerEncoder(c.src_vocab_size, *sizes, embed_dropout=c.embed_dropout),
            TransformerDecoder(c.tgt_vocab_size, *sizes, embed_dropout=c.embed_dropout))
