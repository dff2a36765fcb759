"""Model configs: each kind refuses the fields it would ignore, and uses every one it takes."""

from __future__ import annotations

import re

import pytest
import torch

from s2s.attention import SCORES
from s2s.models import MODEL_BUILDERS, ModelConfig, build_model
from s2s.vocab import Vocab

SIZES = dict(src_vocab_size=12, tgt_vocab_size=10, embed_size=4, hidden_size=6, num_layers=1,
             dropout=0.0)


@pytest.mark.parametrize("kind, fields, message", [
    ("rnn", {"attention": "dot"}, "attention='dot' is ignored: the RNN decoder has no attention"),
    ("rnn", {"attention": "additive"}, "use kind='luong' or 'bahdanau'"),
    ("rnn", {"input_feeding": True}, "input_feeding=True is ignored: input feeding is the Luong"),
    ("bahdanau", {"attention": "dot"}, "always uses the additive score"),
    ("bahdanau", {"attention": "general"}, "use kind='luong' for other scores"),
    ("bahdanau", {"input_feeding": True}, "feeds the context into its RNN already"),
    ("luong", {"attention": "cosine"}, "unknown attention score 'cosine': choose one of"),
    ("cnn", {}, "unknown model kind 'cnn'"),
    ("rnn", {"num_heads": 2}, "num_heads=2 is ignored: only kind='transformer' uses it"),
    ("luong", {"norm_first": True}, "norm_first=True is ignored: only kind='transformer'"),
    ("nmt", {"positions": "learned"}, "positions='learned' is ignored: only kind='transformer'"),
    ("bahdanau", {"ff_size": 64}, "ff_size=64 is ignored: only kind='transformer'"),
])
def test_a_config_refuses_a_field_its_kind_ignores(kind, fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ModelConfig(kind, **SIZES, **fields)


def test_every_problem_is_named_at_once():
    with pytest.raises(ValueError, match="attention='dot'.*; input_feeding=True"):
        ModelConfig("rnn", **SIZES, attention="dot", input_feeding=True)


def test_a_refused_config_is_refused_when_read_back_too():
    stored = ModelConfig("rnn", **SIZES).to_dict() | {"attention": "dot"}
    with pytest.raises(ValueError, match="RNN decoder has no attention"):
        ModelConfig.from_dict(stored)


def logits_of(config: ModelConfig) -> torch.Tensor:
    torch.manual_seed(0)
    model = build_model(config, Vocab([f"s{i}" for i in range(8)]),
                        Vocab([f"t{i}" for i in range(6)])).eval()
    g = torch.Generator().manual_seed(1)
    src, tgt_in = torch.randint(4, 12, (2, 5), generator=g), torch.randint(4, 10, (2, 4),
                                                                         generator=g)
    with torch.no_grad():
        return model(src, torch.tensor([5, 5]), tgt_in)


# a value that spells out what the kind does anyway (accepted, builds the default model)
SAME_AS_DEFAULT = {("bahdanau", "attention", "additive"), ("luong", "attention", "general"),
                   ("nmt", "attention", "general")}


KIND_SIZES = {"transformer": {"embed_size": 6, "num_heads": 2}}  # one width, heads dividing it


@pytest.mark.parametrize("kind", sorted(MODEL_BUILDERS))
def test_every_field_a_kind_accepts_changes_its_model(kind):
    """No config builds the same model as another: a field is refused, or it makes a
    difference (but for the values that name the kind's default)."""
    sizes = {**SIZES, **KIND_SIZES.get(kind, {})}
    default = logits_of(ModelConfig(kind, **sizes))
    options = [("attention", s) for s in SCORES] + [("input_feeding", True),
                                                    ("bidirectional", True), ("cell", "lstm"),
                                                    ("num_heads", 3), ("ff_size", 8),
                                                    ("norm_first", True),
                                                    ("positions", "learned")]
    for field, value in options:
        try:
            config = ModelConfig(kind, **{**sizes, field: value})
        except ValueError:
            continue
        same = torch.equal(logits_of(config), default)
        assert same is ((kind, field, value) in SAME_AS_DEFAULT), (kind, field, value)


@pytest.mark.parametrize("kind", ["rnn", "bahdanau", "luong", "nmt"])
def test_embed_dropout_false_leaves_the_embeddings_alone_in_training(kind):
    """CS224n's model drops out no embedding: with embed_dropout=False and one layer, the
    encoder is deterministic in training mode; with the default it is not."""
    src = torch.randint(3, 20, (4, 6))
    lengths = torch.full((4,), 6)
    outputs = {}
    for flag in (True, False):
        config = ModelConfig(kind=kind, src_vocab_size=20, tgt_vocab_size=20, embed_size=8,
                             hidden_size=8, num_layers=1, dropout=0.5, embed_dropout=flag)
        torch.manual_seed(0)
        encoder, _ = MODEL_BUILDERS[kind](config)
        encoder.train()
        outputs[flag] = [encoder(src, lengths)[0] for _ in range(2)]
    assert not torch.equal(*outputs[True])
    assert torch.equal(*outputs[False])


def test_embed_dropout_is_in_the_config_dict_only_when_it_departs_from_the_old_model():
    base = dict(kind="nmt", src_vocab_size=20, tgt_vocab_size=20)
    assert "embed_dropout" not in ModelConfig(**base).to_dict()  # cached keys stay valid
    off = ModelConfig(**base, embed_dropout=False)
    assert off.to_dict()["embed_dropout"] is False
    assert ModelConfig.from_dict(off.to_dict()) == off
    assert ModelConfig.from_dict(ModelConfig(**base).to_dict()).embed_dropout is True
