"""The capstone's system diagram (chapter 7): one encoder column per source token and
<eos>, one decoder column per output, an input-feeding arrow between consecutive decoder
steps, text inside its boxes, bad arguments named."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from diagram_checks import assert_text_fits, figure_fixture  # noqa: E402
from s2s.diagrams.canvas import COLORS  # noqa: E402
from s2s.diagrams.nmt import INPUT_FEEDING_GID, nmt_system  # noqa: E402

figure = figure_fixture(nmt_system)


def words(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def boxes(fig, colour: str) -> list[FancyBboxPatch]:
    return [p for p in fig.axes[0].patches
            if isinstance(p, FancyBboxPatch) and same_color(p.get_facecolor(), COLORS[colour])]


@pytest.mark.parametrize(("source", "target"), [(("hi",), ("salut",)),
                                                (("i", "am", "cold", "."), ("j'ai", "froid", ".")),
                                                (tuple("abcde"), tuple("wxyz"))])
def test_one_column_per_token_and_input_feeding_between_steps(figure, source, target):
    fig = figure(source, target)
    drawn = words(fig)
    steps = len(target) + 1  # <bos> + target in, target + <eos> out
    columns = [w for w in drawn if w.startswith("h") and w[1:].isdigit()]
    assert columns == [f"h{i}" for i in range(1, len(source) + 2)]
    assert drawn.count("LSTM") == steps and drawn.count("attention") == steps
    assert drawn.count("o_t") == steps
    assert drawn.count("<eos>") == 2  # the source's last token, the last prediction
    assert "<bos>" in drawn and "W_h, W_c" in drawn
    feeds = [p for p in fig.axes[0].patches if p.get_gid() == INPUT_FEEDING_GID]
    assert len(feeds) == steps - 1
    assert all(same_color(p.get_edgecolor(), COLORS["highlight"]) for p in feeds)
    assert len(boxes(fig, "encoder")) == len(source) + 1
    assert len(boxes(fig, "decoder")) == 2 * steps  # an LSTM step and an o_t per step


@pytest.mark.parametrize(("source", "target"), [(("hi",), ("salut",)),
                                                (tuple("abcde"), tuple("wxyz"))])
def test_text_stays_inside_boxes_and_never_overlaps(figure, source, target):
    assert_text_fits(figure(source, target))


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"source": ()}, "source"), ({"source": "hi"}, "source"),
    ({"source": tuple("abcdef")}, "source"), ({"target": ()}, "target"),
    ({"target": tuple("abcde")}, "target"), ({"target": ("a", 1)}, "target"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        nmt_system(**kwargs)
