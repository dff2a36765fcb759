"""The padded-batch diagram of chapter 2: tokens, pads, the mask, the counts, bad arguments."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from diagram_checks import assert_text_fits, figure_fixture  # noqa: E402
from s2s.diagrams.batches import padded_batches  # noqa: E402
from s2s.diagrams.canvas import COLORS  # noqa: E402

RANDOM = [["go", ".", "<eos>"], ["i", "am", "very", "cold", ".", "<eos>"]]
BUCKETED = [["go", ".", "<eos>"], ["hi", "!", "<eos>"]]


figure = figure_fixture(padded_batches)


def words(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_tokens_pads_and_mask(figure):
    fig = figure({"random batch": RANDOM, "bucketed batch": BUCKETED})
    assert isinstance(fig, Figure)
    drawn = words(fig)
    for token in ("go", "am", "cold", "hi", "!"):
        assert token in drawn, token
    # random: 2 x 6 = 12 slots, 9 real; bucketed: 2 x 3 = 6 slots, all real.
    assert drawn.count("pad") == 3
    assert drawn.count("0") == 3
    assert drawn.count("1") == 9 + 6
    assert "random batch: 2 \u00d7 6" in drawn and "bucketed batch: 2 \u00d7 3" in drawn
    assert "9 of 12 slots are real tokens (75%)" in drawn
    assert "6 of 6 slots are real tokens (100%)" in drawn
    # Padding is white with a dashed edge, a real token is not.
    pads = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)
            and p.get_linestyle() == "--"]
    assert len(pads) == 3 + 3  # the pad slots and their mask zeros
    assert all(same_color(p.get_facecolor(), COLORS["pad"]) for p in pads)


def test_lengths_and_long_tokens(figure):
    fig = figure({"lengths": [3, 1], "words": [["internationalisation"]]})
    drawn = words(fig)
    assert drawn.count("pad") == 2
    assert "intern\u2026" in drawn  # cut to 7 characters


def test_wide_panels_go_one_under_the_other(figure):
    wide = [["w"] * 14, ["w"] * 3]
    side = figure({"a": RANDOM, "b": BUCKETED})
    stacked = figure({"a": wide, "b": wide})
    w_side, h_side = side.get_size_inches()
    w_stacked, h_stacked = stacked.get_size_inches()
    assert w_side > h_side
    assert h_stacked > h_side


@pytest.mark.parametrize("panels", [{}, [], {"a": []}, {"a": [[]]}, {"a": [0]}, {"a": "go"},
                                    {"a": ["go"]}])
def test_bad_arguments_name_the_argument(panels):
    with pytest.raises(ValueError, match="panels"):
        padded_batches(panels)


def test_text_stays_inside_boxes_and_never_overlaps(figure):
    fig = figure({"random batch": RANDOM, "bucketed batch": BUCKETED})
    assert_text_fits(fig)
