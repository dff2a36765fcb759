"""The encoder–decoder diagram of chapter 1: its boxes, its fixed-size context, bad arguments."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from diagram_checks import assert_text_fits, figure_fixture  # noqa: E402
from s2s.diagrams.canvas import COLORS  # noqa: E402
from s2s.diagrams.encoder_decoder import encoder_decoder  # noqa: E402

SHORT = (("1", "2"), ("2", "1"))
LONG = (("3", "1", "4", "1", "5", "9"), ("9", "5", "1", "4", "1", "3"))


figure = figure_fixture(encoder_decoder)


def words(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def boxes(fig: Figure, colour: str) -> list[FancyBboxPatch]:
    return [p for p in fig.axes[0].patches
            if isinstance(p, FancyBboxPatch) and same_color(p.get_facecolor(), COLORS[colour])]


def test_default_draws_every_token_and_cell(figure):
    fig = figure()
    assert isinstance(fig, Figure)
    drawn = words(fig)
    for token in ("i", "am", "cold", "j'ai", "froid", "<bos>", "<eos>", "c", "encoder"):
        assert token in drawn, token
    # 4 encoder steps; 3 target tokens + <eos> = 4 decoder steps; "." is a source token,
    # a decoder input and a decoder output.
    assert len(boxes(fig, "encoder")) == 4
    assert len(boxes(fig, "decoder")) == 4
    assert drawn.count("RNN") == 8
    assert drawn.count(".") == 3
    assert drawn.count("<bos>") == 1 and drawn.count("<eos>") == 1


def test_context_has_the_same_size_for_every_source_length(figure):
    fig = figure([SHORT, LONG], context_size=5, context_label="c: 32 numbers")
    drawn = words(fig)
    assert drawn.count("c: 32 numbers") == 2
    assert len(boxes(fig, "encoder")) == 2 + 6
    assert len(boxes(fig, "decoder")) == 3 + 7
    cells = boxes(fig, "context")
    assert len(cells) == 2 * 5
    # Both rows draw c as the same column: the same x, width and height for every cell.
    assert len({(round(p.get_x(), 6), round(p.get_width(), 6)) for p in cells}) == 1
    assert any("same size in every row" in w for w in drawn)


@pytest.mark.parametrize(("args", "kwargs", "name"), [
    (([],), {}, "examples"),
    (([((), ("a",))],), {}, "examples"),
    (([(("a",), ())],), {}, "examples"),
    (([("ab", "ba")],), {}, "examples"),
    (([(("a",),)],), {}, "examples"),
    ((), {"context_size": 0}, "context_size"),
    ((), {"context_size": 9}, "context_size"),
])
def test_bad_arguments_name_the_argument(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        encoder_decoder(*args, **kwargs)


@pytest.mark.parametrize("examples", [None, [SHORT, LONG]])
def test_text_stays_inside_boxes_and_never_overlaps(figure, examples):
    fig = figure() if examples is None else figure(examples)
    assert_text_fits(fig)
