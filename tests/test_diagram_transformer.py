"""The Transformer's layers (chapter 9): one residual connection per sublayer (2 in the encoder
layer, 3 in the decoder layer), an "Add & Norm" after each sublayer in post-norm and a
LayerNorm before each (plus one after each stack) in pre-norm, the encoder's outputs carried to
the cross-attention, text inside its boxes, a bad argument named."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from diagram_checks import assert_text_fits, figure_fixture  # noqa: E402
from s2s.diagrams.transformer import CROSS_GID, RESIDUAL_GID, transformer_layers  # noqa: E402

figure = figure_fixture(transformer_layers)


def words(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def gids(fig, gid: str) -> list:
    return [p for p in fig.axes[0].patches if p.get_gid() == gid]


def test_post_norm_adds_then_normalises_after_each_sublayer(figure):
    fig = figure(False)
    drawn = words(fig)
    assert drawn.count("Add & Norm") == 5  # 2 sublayers in the encoder layer, 3 in the decoder
    assert "LayerNorm" not in drawn and "+" not in drawn
    assert len(gids(fig, RESIDUAL_GID)) == 5
    assert "post-norm" in fig.axes[0].get_title()


def test_pre_norm_normalises_before_each_sublayer_and_after_each_stack(figure):
    fig = figure(True)
    drawn = words(fig)
    assert drawn.count("LayerNorm") == 5 and drawn.count("+") == 5
    assert drawn.count("final LayerNorm") == 2
    assert "Add & Norm" not in drawn
    assert len(gids(fig, RESIDUAL_GID)) == 5
    assert "pre-norm" in fig.axes[0].get_title()


@pytest.mark.parametrize("norm_first", [False, True])
def test_the_sublayers_and_the_cross_attention_arrow(figure, norm_first):
    fig = figure(norm_first)
    drawn = words(fig)
    for name in ("self-attention", "masked self-attention", "cross-attention", "Linear -> logits",
                 "source embeddings\n+ positions", "target embeddings\n+ positions"):
        assert drawn.count(name) == 1, name
    assert drawn.count("feed-forward") == 2
    assert len(gids(fig, CROSS_GID)) == 1


@pytest.mark.parametrize("norm_first", [False, True])
def test_text_stays_inside_boxes_and_never_overlaps(figure, norm_first):
    assert_text_fits(figure(norm_first))


@pytest.mark.parametrize("bad", [1, "pre", None])
def test_bad_argument_is_named(bad):
    with pytest.raises(ValueError, match="norm_first"):
        transformer_layers(bad)
