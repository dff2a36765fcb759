"""The Bahdanau vs Luong data-flow diagram: labels, the input-feeding arrow, its layout."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from diagram_checks import assert_text_fits, figure_fixture  # noqa: E402
from s2s.diagrams.attention import INPUT_FEEDING_GID, attention_data_flow  # noqa: E402
from s2s.diagrams.canvas import COLORS  # noqa: E402

figure = figure_fixture(attention_data_flow)


def words(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def feeding_lines(fig: Figure) -> list[Line2D]:
    return [line for ax in fig.axes for line in ax.lines
            if line.get_gid() == INPUT_FEEDING_GID and line.get_linestyle() == "--"]


def test_both_decoders_are_drawn(figure):
    fig = figure()
    assert isinstance(fig, Figure)
    drawn = words(fig)
    joined = "\n".join(drawn)
    for j in range(1, 5):
        assert drawn.count(f"$h_{{{j}}}$") == 2  # the encoder outputs, once per panel
    assert "$h_{5}$" not in drawn
    assert drawn.count("RNN") == 2
    assert drawn.count("output layer") == 2
    assert drawn.count("logits") == 2
    assert "$s_{t-1}$" in drawn and "$s_t$" in drawn and "$h_t$" in drawn
    assert r"[embed($y_{t-1}$); $c_t$]" in drawn            # Bahdanau's RNN input
    assert r"$\tilde h_t = \tanh(W_c[c_t; h_t])$" in drawn   # Luong's attentional state
    assert "score($s_{t-1}$" in joined and "score($h_t$" in joined
    # The captions say which one can run the RNN over every step at once, and why.
    assert "Sequential" in joined and "Parallel" in joined


def test_bahdanau_dependency_is_highlighted(figure):
    fig = figure(input_feeding=False)
    red = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)
           and same_color(p.get_edgecolor(), COLORS["highlight"])]
    # query -> scores -> softmax -> c_t -> [embed; c_t] -> RNN
    assert len(red) == 5


def test_input_feeding_arrow_is_optional(figure):
    with_feeding, without = figure(input_feeding=True), figure(input_feeding=False)
    assert len(feeding_lines(with_feeding)) == 1
    assert feeding_lines(without) == []
    assert any("input feeding" in w for w in words(with_feeding))
    assert not any("input feeding" in w.lower() for w in words(without))


def test_source_length(figure):
    one = words(figure(source_len=1))
    assert one.count("$h_{1}$") == 2 and "$h_{2}$" not in one
    long = words(figure(source_len=9))
    assert "$h_{S}$" in long and r"$\cdots$" in long and "$h_{5}$" not in long


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4"])
def test_bad_source_len_names_the_argument(bad):
    with pytest.raises(ValueError, match="source_len"):
        attention_data_flow(source_len=bad)


@pytest.mark.parametrize("kwargs", [{}, {"input_feeding": False}, {"source_len": 1},
                                    {"source_len": 12}])
def test_text_stays_inside_boxes_and_never_overlaps(figure, kwargs):
    fig = figure(**kwargs)
    assert_text_fits(fig)
