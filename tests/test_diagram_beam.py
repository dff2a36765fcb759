"""s2s.diagrams.beam.beam_tree: a Figure with one box per candidate, kept / pruned / finished
drawn differently, the returned output outlined, and bad records refused by name."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from s2s.diagrams.beam import beam_tree  # noqa: E402
from s2s.diagrams.canvas import COLORS  # noqa: E402

K, P, F = "kept", "pruned", "finished"
# beam 2 on chapter 5's table, as the chapter records it
STEPS = [
    [(["A"], 0.5, K), (["B"], 0.2, K), (["C"], 0.2, P), (["<eos>"], 0.1, P)],
    [(["A", "B"], 0.2, K), (["A", "C"], 0.15, K), (["A", "<eos>"], 0.1, P),
     (["B", "A"], 0.05, P)],
    [(["A", "C", "B"], 0.09, K), (["A", "B", "C"], 0.08, K), (["A", "B", "<eos>"], 0.04, P)],
    [(["A", "C", "B", "<eos>"], 0.054, F), (["A", "B", "C", "<eos>"], 0.048, F)],
]
BEST = ["A", "C", "B", "<eos>"]
N_CANDIDATES = sum(len(step) for step in STEPS)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def nodes(fig: Figure) -> dict[str, FancyBboxPatch]:
    """Each node's first text line (its tokens, or <bos>) -> the box drawn under it."""
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    found = {}
    for text in ax.texts:
        if "\np = " not in text.get_text():
            continue
        x, y = text.get_position()
        under = [b for b in boxes if b.get_x() <= x <= b.get_x() + b.get_width()
                 and b.get_y() <= y <= b.get_y() + b.get_height()]
        assert len(under) == 1, text.get_text()
        found[text.get_text().split("\n")[0]] = under[0]
    return found


def test_returns_a_figure_with_one_box_and_one_arrow_per_candidate():
    fig = beam_tree(STEPS, best=BEST, title="beam 2")
    assert isinstance(fig, Figure)
    drawn = nodes(fig)
    assert len(drawn) == N_CANDIDATES + 1  # + the <bos> root
    assert {"<bos>", "A C B <eos>", "B A", "<eos>"} <= drawn.keys()
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == N_CANDIDATES  # each candidate hangs from its parent
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert {"step 1", "step 4", "kept in the beam", "pruned", "returned"} <= labels


def test_the_probability_is_printed_in_each_node():
    texts = {t.get_text() for t in beam_tree(STEPS).axes[0].texts}
    assert "A C\np = 0.150" in texts
    assert "A C B <eos>\np = 0.054" in texts


def test_kept_pruned_and_finished_look_different():
    drawn = nodes(beam_tree(STEPS, best=BEST))
    kept, pruned, finished = drawn["A B"], drawn["B A"], drawn["A B C <eos>"]
    assert kept.get_facecolor() == to_rgba(COLORS["decoder"])
    assert pruned.get_facecolor() == to_rgba(COLORS["muted"])
    assert finished.get_facecolor() == to_rgba(COLORS["context"])
    assert kept.get_linestyle() == "-" and pruned.get_linestyle() == "--"
    assert finished.get_linewidth() > kept.get_linewidth()


def test_best_is_outlined_and_only_when_asked():
    drawn = nodes(beam_tree(STEPS, best=BEST))
    assert drawn["A C B <eos>"].get_edgecolor() == to_rgba(COLORS["highlight"])
    assert drawn["A B C <eos>"].get_edgecolor() != to_rgba(COLORS["highlight"])
    plain = beam_tree(STEPS)
    assert all(b.get_edgecolor() != to_rgba(COLORS["highlight"])
               for b in nodes(plain).values())
    assert "returned" not in {t.get_text() for t in plain.axes[0].texts}


def test_tuples_and_a_single_step_are_fine():
    fig = beam_tree([[(("A",), 0.5, K), (("<eos>",), 0.5, F)]])
    assert len(nodes(fig)) == 3


@pytest.mark.parametrize("steps,message", [
    ([], r"steps must be a non-empty list"),
    ("A B", r"steps must be a non-empty list"),
    ([[]], r"steps\[0\] must be a non-empty list"),
    ([[(["A"], 0.5)]], r"steps\[0\]\[0\] must be a \(tokens, p, status\) triple"),
    ([[([], 0.5, K)]], r"steps\[0\]\[0\]: tokens must be a non-empty list of strings"),
    ([["A", 0.5, K]], r"steps\[0\]\[0\] must be a \(tokens, p, status\) triple"),
    ([[("A", 0.5, K)]], r"steps\[0\]\[0\]: tokens must be"),
    ([[(["A"], 0.5, "alive")]], r"steps\[0\]\[0\]: status must be one of"),
    ([[(["A"], 1.5, K)]], r"steps\[0\]\[0\]: p must be a probability"),
    ([[(["A"], "0.5", K)]], r"steps\[0\]\[0\]: p must be a probability"),
    ([[(["A"], 0.5, K), (["A"], 0.4, P)]], r"steps\[0\]\[1\]: 'A' appears twice"),
    ([[(["A"], 0.5, P)], [(["A", "B"], 0.2, K)]], r"steps\[1\]\[0\]: 'A B' extends 'A'"),
    ([[(["A", "B"], 0.2, K)]], r"steps\[0\]\[0\]: 'A B' is not one token"),
])
def test_bad_steps_are_refused_by_name(steps, message):
    with pytest.raises(ValueError, match=message):
        beam_tree(steps)


def test_bad_best_and_size_are_refused_by_name():
    with pytest.raises(ValueError, match="best must be the tokens of a finished candidate"):
        beam_tree(STEPS, best=["A", "B"])  # kept, not finished
    with pytest.raises(ValueError, match="best must be"):
        beam_tree(STEPS, best="A C B <eos>")  # a string, not tokens
    with pytest.raises(ValueError, match="size must be a number > 0"):
        beam_tree(STEPS, size=0)
