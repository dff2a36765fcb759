"""The encoder-decoder interface, model configs, and building a model from a config.

The interface every model in the course obeys (d2l's names, batch-first tensors):

    Encoder.forward(src, src_len)        -> (outputs (B, S, H_enc), state)
    Decoder.init_state(enc_outputs, src_len) -> state: DecoderState
    Decoder.forward(tgt_in, state)       -> (logits (B, T, V), state)   teacher forcing
    Decoder.step(token, state)           -> (logits (B, V), state)      one inference step
    EncoderDecoder.forward(src, src_len, tgt_in) -> logits (B, T, V)

    DecoderState.select(index)           -> state of the rows `index` (B',)  (search)
    AttendingState.weights               -> attention weights (B, T, S) of the last call

A decoder's state is whatever the decoder needs (each says which), with one duty towards
search: `select`, to keep, repeat and reorder batch rows. A state that also records attention
weights (`AttendingState`) can be drawn as a heatmap. Search (`s2s.decoding`) uses nothing else.

`<pad>` is id 0 in every vocabulary, so `src != 0` is the source mask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol, Self, runtime_checkable

from torch import Tensor, nn

from s2s.vocab import Vocab

State = Any  # an encoder's state: a tensor, a tuple of tensors... each encoder says which


@runtime_checkable
class DecoderState(Protocol):
    """What search needs from a decoder's state."""

    def select(self, index: Tensor) -> Self:
        """Keep, repeat and reorder batch rows: index (B',) of rows -> a state of batch B'.

        Beam search starts K hypotheses from each sentence with it, and follows each new
        hypothesis to its parent row."""
        ...


@runtime_checkable
class AttendingState(DecoderState, Protocol):
    """A decoder state that records the attention weights of its decoder's last call."""

    weights: Tensor | None  # (B, T, S): T steps of the last call over S source positions


class Encoder(nn.Module):
    """Maps a padded batch of variable-length sequences to per-position outputs and a state."""

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, State]:
        """src: (B, S) token ids, 0 = <pad>; src_len: (B,) real lengths.

        Returns outputs (B, S, H_enc) and a state (model-specific)."""
        raise NotImplementedError


class Decoder(nn.Module):
    """Generates target logits from a state that `init_state` builds out of the encoder's output."""

    def init_state(self, enc_outputs: tuple[Tensor, State], src_len: Tensor) -> DecoderState:
        """enc_outputs: what the encoder returned, (outputs (B, S, H_enc), state); src_len: (B,)."""
        raise NotImplementedError

    def forward(self, tgt_in: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """Teacher forcing. tgt_in: (B, T) = <bos> y_1 ... y_{T-1}. Returns logits (B, T, V)."""
        raise NotImplementedError

    def step(self, token: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """One inference step. token: (B,) the previous output id. Returns logits (B, V).

        The default runs `forward` on a length-1 target; decoders override it when a
        step can be cheaper or must differ."""
        logits, state = self.forward(token[:, None], state)  # (B, 1, V)
        return logits[:, 0], state


class EncoderDecoder(nn.Module):
    """An encoder and a decoder joined: the training-time forward pass."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, src: Tensor, src_len: Tensor) -> DecoderState:
        """Run the encoder once and build the decoder's initial state."""
        enc_outputs = self.encoder(src, src_len)
        return self.decoder.init_state(enc_outputs, src_len)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """src: (B, S); src_len: (B,); tgt_in: (B, T). Returns logits (B, T, V)."""
        state = self.encode(src, src_len)
        logits, _ = self.decoder(tgt_in, state)
        return logits


# ---------------------------------------------------------------------------------------------
# Configuration, construction, and a model that knows its vocabularies


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (stored in checkpoints).

    A config refuses a field its kind would ignore (`attention=` on an "rnn", input feeding on
    a "bahdanau"...): each kind's check is registered with its builder (`register`)."""

    kind: str  # "rnn" (chapter 3), "bahdanau" or "luong" (chapter 4), "nmt" (chapter 7),
    #            "transformer" (chapter 9)
    src_vocab_size: int
    tgt_vocab_size: int
    embed_size: int = 256
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.2
    cell: str = "gru"
    bidirectional: bool = False
    attention: str = ""  # the score of attention models: additive, dot, general, ...
    input_feeding: bool = False  # Luong only
    max_len: int = 50  # the longest source (in tokens) the model was trained for
    tokenizers: tuple[str, str] = ("word", "word")
    embed_dropout: bool = True  # dropout on the embeddings too (CS224n's model has none: False)
    # the Transformer's own (s2s.models.transformer; every other kind refuses them when set):
    num_heads: int = 4  # attention heads, each of hidden_size / num_heads dimensions
    ff_size: int = 0  # the feed-forward layer's inner width; 0: 4 * hidden_size
    norm_first: bool = False  # pre-norm (LayerNorm before each sublayer); False: post-norm
    positions: str = "sinusoidal"  # or "learned"

    def __post_init__(self) -> None:
        if self.kind not in MODEL_BUILDERS:
            raise ValueError(f"unknown model kind {self.kind!r}: known are "
                             f"{sorted(MODEL_BUILDERS)}")
        problems = foreign_fields(self) + MODEL_CHECKS[self.kind](self)
        if problems:
            raise ValueError(f"ModelConfig(kind={self.kind!r}, ...): " + "; ".join(problems))

    def to_dict(self) -> dict:
        """The fields as JSON takes them; a field added after models were cached is left out
        at its old behaviour (ADDED_FIELDS), so their keys and checkpoints stay valid."""
        return {k: v for k, v in {**asdict(self), "tokenizers": list(self.tokenizers)}.items()
                if k not in ADDED_FIELDS or v != ADDED_FIELDS[k]}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**{**data, "tokenizers": tuple(data["tokenizers"])})


class Seq2Seq(EncoderDecoder):
    """An encoder-decoder with its config and vocabularies: what `translate`, checkpoints and
    the decoders need to go from raw text to raw text."""

    def __init__(self, encoder: Encoder, decoder: Decoder, config: ModelConfig,
                 src_vocab: Vocab, tgt_vocab: Vocab) -> None:
        super().__init__(encoder, decoder)
        if (len(src_vocab), len(tgt_vocab)) != (config.src_vocab_size, config.tgt_vocab_size):
            raise ValueError(f"vocabulary sizes {len(src_vocab)}/{len(tgt_vocab)} differ from "
                             f"the config's {config.src_vocab_size}/{config.tgt_vocab_size}")
        self.config, self.src_vocab, self.tgt_vocab = config, src_vocab, tgt_vocab


# Fields added to ModelConfig after models were cached and experiments run, with the value
# that keeps the earlier behaviour: left out of `to_dict` (and so of cache keys) at that value.
ADDED_FIELDS: dict[str, object] = {"embed_dropout": True, "num_heads": 4, "ff_size": 0,
                                   "norm_first": False, "positions": "sinusoidal"}

Builder = Callable[[ModelConfig], tuple[Encoder, Decoder]]
ConfigCheck = Callable[[ModelConfig], list[str]]  # what the kind would ignore, and what to do

MODEL_BUILDERS: dict[str, Builder] = {}
MODEL_CHECKS: dict[str, ConfigCheck] = {}
FIELD_OWNERS: dict[str, str] = {}  # a field only one kind uses -> that kind


def foreign_fields(config: ModelConfig) -> list[str]:
    """One message per field that belongs to another kind (`register(..., owns=...)`) and is
    set to other than its default: `config.kind` would ignore it."""
    defaults = {f.name: f.default for f in fields(config)}
    return [f"{name}={getattr(config, name)!r} is ignored: only kind={owner!r} uses it "
            "(leave it unset)" for name, owner in FIELD_OWNERS.items()
            if owner != config.kind and getattr(config, name) != defaults[name]]


def register(kind: str, check: ConfigCheck = lambda config: [],
             owns: tuple[str, ...] = ()) -> Callable[[Builder], Builder]:
    """Decorator: `@register("rnn", check)` on a function ModelConfig -> (encoder, decoder).

    `check(config)` returns one message per field of `config` that this kind would ignore,
    saying what to do instead; `ModelConfig` refuses a config with any. `owns`: the fields
    only this kind uses, which every other kind refuses when they differ from the default."""
    def wrap(builder: Builder) -> Builder:
        MODEL_BUILDERS[kind] = builder
        MODEL_CHECKS[kind] = check
        FIELD_OWNERS.update(dict.fromkeys(owns, kind))
        return builder
    return wrap


def build_model(config: ModelConfig, src_vocab: Vocab, tgt_vocab: Vocab) -> Seq2Seq:
    """A freshly initialised model of `config.kind`."""
    if config.kind not in MODEL_BUILDERS:
        raise ValueError(f"unknown model kind {config.kind!r}: known are {sorted(MODEL_BUILDERS)}")
    encoder, decoder = MODEL_BUILDERS[config.kind](config)
    return Seq2Seq(encoder, decoder, config, src_vocab, tgt_vocab)
