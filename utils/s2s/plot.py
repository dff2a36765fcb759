"""Figures the chapters share: loss curves and attention heatmaps."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from torch import Tensor

from s2s.checkpoints import History


def loss_curves(histories: dict[str, History], ax: Axes | None = None) -> Axes:
    """Validation loss against training step, one line per named run."""
    ax = ax or plt.subplots(figsize=(6, 3))[1]
    for name, h in histories.items():
        ax.plot(h.val_steps, h.val_loss, "o-", ms=3, label=name)
    ax.set(xlabel="step", ylabel="validation loss per token")
    ax.legend()
    return ax


def attention_heatmap(weights: Tensor, source: Sequence[str], target: Sequence[str],
                      ax: Axes | None = None, title: str = "") -> Axes:
    """Attention weights (T, S) as a heatmap: rows are target tokens, columns source tokens."""
    weights = weights.detach().cpu()
    if weights.shape != (len(target), len(source)):
        raise ValueError(f"weights {tuple(weights.shape)} do not match {len(target)} target x "
                         f"{len(source)} source tokens")
    ax = ax or plt.subplots(figsize=(0.45 * len(source) + 1.5, 0.4 * len(target) + 1))[1]
    ax.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=60, ha="right")
    ax.set_yticks(range(len(target)), target)
    ax.set(xlabel="source", ylabel="output", title=title)
    return ax
