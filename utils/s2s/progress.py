"""Progress: what a person sees while `s2s.train.fit` trains.

Three displays with one interface (`tick` after every step, `update` after a validation,
`close` at the end), chosen by `display_for` from where the run is:
* in a notebook, `LivePlot`: one loss plot redrawn in place every few seconds and at each
  validation (a display redrawn at every step floods the kernel's output channel at GPU
  speed), replaced by a one-line summary when training ends; its snapshots carry
  PROGRESS_METADATA, so the course checks can tell them from figures;
* in a terminal, `Bar`: a tqdm progress bar over the epoch's batches;
* elsewhere (a log file, a pipe), `LogLines`: one plain line every `every` steps and at
  each validation, so that a long run's log stays a few kilobytes (a progress bar written to
  a file is megabytes of carriage returns).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol, TextIO

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


class Display(Protocol):
    """What `fit` calls on any progress display."""

    def tick(self, history: History, step_in_epoch: int) -> None: ...
    def update(self, history: History, step_in_epoch: int) -> None: ...
    def close(self, history: History) -> None: ...


class Silent:
    """No progress at all (CI, S2S_QUIET=1, progress=False, ranks other than 0)."""

    def tick(self, history: History, step_in_epoch: int) -> None:
        pass

    def update(self, history: History, step_in_epoch: int) -> None:
        pass

    def close(self, history: History) -> None:
        pass


class Bar:
    """A tqdm bar in a terminal: the epoch's batches, the last loss and the speed."""

    def __init__(self, steps_per_epoch: int) -> None:
        self.steps_per_epoch = steps_per_epoch
        self.bar = None
        self.epoch = 0

    def tick(self, history: History, step_in_epoch: int) -> None:
        from tqdm import tqdm

        if self.bar is None or history.epochs_started != self.epoch:
            if self.bar is not None:
                self.bar.close()
            self.epoch = history.epochs_started
            self.bar = tqdm(total=self.steps_per_epoch, initial=step_in_epoch - 1,
                            desc=f"epoch {self.epoch}", leave=False)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{history.step_loss[-1]:.3f}",
                             tok_s=f"{history.tokens_per_second:,.0f}")

    def update(self, history: History, step_in_epoch: int) -> None:
        pass

    def close(self, history: History) -> None:
        if self.bar is not None:
            self.bar.close()


class LogLines:
    """Plain lines for a log file or a pipe: one every `every` steps, one per validation."""

    def __init__(self, every: int = 100, stream: TextIO | None = None) -> None:
        if every < 1:
            raise ValueError(f"LogLines(every={every}): give a number of steps >= 1")
        self.every = every
        self.stream = stream or sys.stderr

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def tick(self, history: History, step_in_epoch: int) -> None:
        if history.steps % self.every == 0:
            self._line(f"step {history.steps:,} (epoch {history.epochs_started}): loss "
                       f"{history.step_loss[-1]:.3f}, {history.tokens_per_second:,.0f} "
                       f"target tok/s, {history.seconds / 60:.1f} min")

    def update(self, history: History, step_in_epoch: int) -> None:
        self._line(f"step {history.steps:,}: validation loss {history.val_loss[-1]:.3f} "
                   f"(best {history.best_val:.3f})")

    def close(self, history: History) -> None:
        self._line(f"trained {history.steps:,} steps in {history.seconds / 60:.1f} min "
                   f"({history.stopped or 'done'})")


def display_for(show: bool, steps_per_epoch: int, stream: TextIO | None = None) -> Display:
    """The display for this run: none unless `show`; the live plot in a notebook; a bar
    when `stream` (default: standard error) is a terminal; log lines otherwise."""
    if not show:
        return Silent()
    if in_notebook():
        return LivePlot(steps_per_epoch)
    stream = stream or sys.stderr
    if stream.isatty():
        return Bar(steps_per_epoch)
    return LogLines(stream=stream)


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
