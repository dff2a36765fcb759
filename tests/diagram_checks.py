"""Layout checks shared by the diagram tests: text never overlaps other text, and text that
sits in a box stays inside it."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch


def assert_text_fits(fig: Figure, axis: int = 0, *, check_height: bool = True) -> None:
    """Draw `fig` and check the texts of `fig.axes[axis]` against each other and their boxes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[axis]
    extents = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts if t.get_text()]
    for i, (a, ea) in enumerate(extents):
        for b, eb in extents[i + 1:]:
            assert not ea.overlaps(eb), f"{a!r} overlaps {b!r}"
    boxes = [p.get_window_extent(renderer) for p in ax.patches
             if isinstance(p, FancyBboxPatch)]
    for text, ext in extents:
        centre = ((ext.x0 + ext.x1) / 2, (ext.y0 + ext.y1) / 2)
        for box in boxes:
            if box.contains(*centre):
                assert box.x0 <= ext.x0 and ext.x1 <= box.x1, f"{text!r} sticks out of its box"
                if check_height:
                    assert box.y0 <= ext.y0 and ext.y1 <= box.y1, (
                        f"{text!r} sticks out of its box")


def figure_fixture(draw: Callable[..., Figure]):
    """A pytest fixture `figure(*args, **kwargs)` that calls `draw` and closes every figure it
    made when the test ends. Use: `figure = figure_fixture(padded_batches)`."""

    @pytest.fixture
    def figure():
        figs: list[Figure] = []

        def make(*args, **kwargs) -> Figure:
            figs.append(draw(*args, **kwargs))
            return figs[-1]

        yield make
        for fig in figs:
            plt.close(fig)

    return figure
