"""Encoder-decoder models: the interface (`base`), the RNN models of chapter 3 (`rnn`), and
the attention decoders of chapter 4 (`attentive`), CS224n's system of chapter 7 (`nmt`, the
model kind "nmt"). Everything is importable from here, but for the Transformer of chapter 9
(the kind "transformer"), whose pieces are imported from their modules: `transformer`,
`transformer_layers`, `multihead`, `positions`."""

from s2s.models import nmt, transformer  # noqa: F401  (register the kinds "nmt", "transformer")
from s2s.models.attentive import AttentionState, BahdanauDecoder, LuongDecoder
from s2s.models.base import (
    MODEL_BUILDERS,
    AttendingState,
    Decoder,
    DecoderState,
    Encoder,
    EncoderDecoder,
    ModelConfig,
    Seq2Seq,
    State,
    build_model,
    register,
)
from s2s.models.rnn import (
    RNNDecoder,
    RNNEncoder,
    RNNHidden,
    RNNState,
    init_weights,
    select_hidden,
    top_layer,
)

__all__ = [
    "AttendingState",
    "AttentionState",
    "BahdanauDecoder",
    "LuongDecoder",
    "MODEL_BUILDERS",
    "Decoder",
    "DecoderState",
    "Encoder",
    "EncoderDecoder",
    "ModelConfig",
    "RNNDecoder",
    "RNNEncoder",
    "RNNHidden",
    "RNNState",
    "Seq2Seq",
    "State",
    "build_model",
    "init_weights",
    "register",
    "select_hidden",
    "top_layer",
]
