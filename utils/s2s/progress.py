"""Progress: the live loss plot a notebook shows while `s2s.train.fit` trains.

One display, redrawn in place every few seconds and at each validation (a display redrawn at
every step floods the kernel's output channel at GPU speed), and replaced by a one-line
summary when training ends.
Its snapshots carry PROGRESS_METADATA, so the course checks can tell them from figures.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from s2s.checkpoints import History

PROGRESS_METADATA = {"s2s_progress": True}  # marks live snapshots in a notebook's outputs


class LivePlot:
    """A loss plot that redraws in place in a notebook (one display, updated), with the
    progress of the epoch in its title, and that `close` replaces with a one-line summary:
    a progress snapshot is not a chapter figure. It is the notebook's progress bar too, so a
    stored notebook keeps no stale bar (a tqdm widget's text would stay at "0%")."""

    def __init__(self, steps_per_epoch: int, every_seconds: float = 5.0) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.steps_per_epoch = steps_per_epoch
        self.every_seconds = every_seconds
        self.drawn_at = time.perf_counter()
        self.fig, self.ax = plt.subplots(figsize=(6, 3))
        plt.close(self.fig)  # shown only through the display handle below
        self.handle = display(self.fig, display_id=True, metadata=PROGRESS_METADATA)

    def close(self, history: History) -> None:
        from IPython.display import Pretty

        best = f"{history.best_val:.3f}" if history.val_loss else "n/a"
        self.handle.update(Pretty(f"trained {history.steps:,} steps in "
                                  f"{history.seconds / 60:.1f} min; best validation loss "
                                  f"{best} (live plot closed)"))

    def tick(self, history: History, step_in_epoch: int) -> None:
        """Redraw if `every_seconds` have passed since the last drawing."""
        if time.perf_counter() - self.drawn_at >= self.every_seconds:
            self.update(history, step_in_epoch)

    def update(self, history: History, step_in_epoch: int) -> None:
        self.ax.clear()
        self.ax.plot(history.step_loss, lw=0.5, alpha=0.6, label="train (per step)")
        if history.val_loss:
            self.ax.plot(history.val_steps, history.val_loss, "o-", label="valid")
        self.ax.set(xlabel="step", ylabel="loss per token", yscale="log",
                    title=f"epoch {history.epochs_started}: {step_in_epoch:,}/"
                          f"{self.steps_per_epoch:,} batches · "
                          f"{history.tokens_per_second:,.0f} target tok/s")
        self.ax.legend()
        self.handle.update(self.fig, metadata=PROGRESS_METADATA)
        self.drawn_at = time.perf_counter()


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
