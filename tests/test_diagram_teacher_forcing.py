"""The teacher-forcing vs free-running diagram: its labels, the highlighted mistake, its layout."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from diagram_checks import assert_text_fits, figure_fixture  # noqa: E402
from s2s.diagrams.canvas import COLORS  # noqa: E402
from s2s.diagrams.teacher_forcing import teacher_forcing_vs_free_running  # noqa: E402

RED = COLORS["highlight"]


figure = figure_fixture(teacher_forcing_vs_free_running)


def texts(fig: Figure) -> list:
    return [t for ax in fig.axes for t in ax.texts]


def words(fig: Figure) -> list[str]:
    return [t.get_text() for t in texts(fig)]


def test_returns_a_figure_with_every_token(figure):
    fig = figure()
    assert isinstance(fig, Figure)
    drawn = words(fig)
    for token in ("j'ai", "froid", ".", "chaud", "<bos>", "<eos>", "c", "RNN"):
        assert token in drawn, token
    # Both rows start at <bos> and end at <eos>; one RNN cell per step (T + 1) in each row.
    assert drawn.count("<bos>") == 2
    assert drawn.count("<eos>") == 2
    assert drawn.count("RNN") == 2 * 4
    # A loss term at every position of the teacher-forced row.
    assert [f"$\\ell_{{{t}}}$" in drawn for t in range(1, 5)] == [True] * 4


def test_mistake_is_highlighted_and_fed_back(figure):
    fig = figure()
    wrong = [t for t in texts(fig) if t.get_text() == "chaud"]
    assert len(wrong) == 2  # the wrong output and the same word read as the next input
    assert all(same_color(t.get_color(), RED) for t in wrong)
    assert "(true: froid)" in words(fig)
    right = [t for t in texts(fig) if t.get_text() in ("j'ai", "froid")]
    assert right and not any(same_color(t.get_color(), RED) for t in right)
    # Every cell after the one that produced the mistake reads it (directly or through the
    # state): steps 3 and 4 are outlined in red, and no other box is dashed.
    dashed_red = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)
                  and same_color(p.get_edgecolor(), RED) and p.get_linestyle() == "--"]
    assert len(dashed_red) == 2


def test_no_mistake_no_highlighted_token(figure):
    fig = figure(("je", "suis"), ["je", "suis"])
    tokens = [t for t in texts(fig) if t.get_text() in ("je", "suis", "<eos>", "<bos>")]
    assert tokens and not any(same_color(t.get_color(), RED) for t in tokens)
    assert not any(w.startswith("(true:") for w in words(fig))


@pytest.mark.parametrize(("target", "predicted", "name"), [
    ((), ("je",), "target"),
    (("je",), (), "predicted"),
    (("je", "suis"), ("je",), "predicted"),
])
def test_bad_arguments_name_the_argument(target, predicted, name):
    with pytest.raises(ValueError, match=name):
        teacher_forcing_vs_free_running(target, predicted)


@pytest.mark.parametrize("pair", [None, (("i", "am", "very", "cold", "today", "."),
                                         ("i", "am", "so", "cold", "now", "."))])
def test_text_stays_inside_boxes_and_never_overlaps(figure, pair):
    fig = figure() if pair is None else figure(*pair)
    assert_text_fits(fig)
