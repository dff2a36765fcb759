"""Run profiles: one notebook, three sizes.

`ci` runs each chapter in one to two minutes on a 2-core CPU, `cpu` in minutes on a laptop,
`gpu` at full scale on Colab or a workstation GPU. `S2S_PROFILE` picks one; without it the
profile is `gpu` when CUDA is available and `cpu` otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

PROFILE_NAMES = ("ci", "cpu", "gpu")


@dataclass(frozen=True)
class Profile:
    """The sizes a chapter uses. Fields are read by the chapters and the cached trainers."""

    name: str
    # data (chapters 02+): sentence-pair budget (None = whole corpus), max tokens per side
    max_pairs: int | None
    max_len: int
    min_freq: int
    # model (chapters 03+)
    embed_size: int
    hidden_size: int
    num_layers: int
    dropout: float
    # training
    batch_size: int
    epochs: int
    lr: float
    max_train_minutes: float  # wall-clock budget for one model's training
    # chapter 01's toy task
    toy_steps: int
    # decoding (chapter 05)
    beam_sizes: tuple[int, ...]
    # number of held-out sentences to judge on (None = whole test split)
    eval_sentences: int | None

    def with_(self, **changes: object) -> Profile:
        """A copy with some fields changed (for exercises and experiments)."""
        return replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", max_pairs=6000, max_len=8, min_freq=2,
        embed_size=64, hidden_size=64, num_layers=1, dropout=0.0,
        batch_size=64, epochs=2, lr=3e-3, max_train_minutes=0.5,
        toy_steps=300, beam_sizes=(1, 2, 5), eval_sentences=200,
    ),
    "cpu": Profile(
        name="cpu", max_pairs=None, max_len=12, min_freq=2,
        embed_size=256, hidden_size=256, num_layers=2, dropout=0.2,
        batch_size=128, epochs=30, lr=2e-3, max_train_minutes=5.0,
        toy_steps=2000, beam_sizes=(1, 2, 3, 5, 10), eval_sentences=2000,
    ),
    "gpu": Profile(
        name="gpu", max_pairs=None, max_len=16, min_freq=2,
        embed_size=512, hidden_size=512, num_layers=2, dropout=0.3,
        batch_size=256, epochs=30, lr=1e-3, max_train_minutes=20.0,
        toy_steps=4000, beam_sizes=(1, 2, 3, 4, 5, 6, 8, 10), eval_sentences=None,
    ),
}


def default_profile_name() -> str:
    """`gpu` when CUDA is available, else `cpu`."""
    return "gpu" if torch.cuda.is_available() else "cpu"


def get_profile(name: str | None = None) -> Profile:
    """The profile named `name`, else `$S2S_PROFILE`, else the hardware default."""
    name = name or os.environ.get("S2S_PROFILE") or default_profile_name()
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILE_NAMES)} "
            "(set S2S_PROFILE=ci|cpu|gpu, or leave it unset to choose by hardware)"
        )
    return PROFILES[name]
