"""Where a run happens: device choice, seeding, whether it is a CI run, and the chapters'
visible self-checks."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: `prefer` if given, else CUDA, else Apple's MPS, else the CPU.

    `S2S_DEVICE` (e.g. `cpu`) overrides the automatic choice."""
    name = prefer or os.environ.get("S2S_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


NOT_CI = ("", "0", "false", "no")  # values of $CI (any case, spaces ignored) that mean "not CI"


def in_ci() -> bool:
    """Whether this is a CI run: `CI` set to anything but "", "0", "false" or "no" (in any
    case), or `S2S_PROFILE=ci`.

    The one switch for the library's CI behaviour: in CI, training shows no progress bar or
    live plot (`s2s.train.fit`; S2S_QUIET=1 also silences it elsewhere) and a failing
    self-check raises (`check`; S2S_STRICT=1 also makes it raise elsewhere)."""
    ci = os.environ.get("CI", "").strip().lower() not in NOT_CI
    return ci or os.environ.get("S2S_PROFILE", "") == "ci"


class CheckFailed(AssertionError):
    """A chapter's self-check did not hold (raised in CI, see `in_ci`)."""


def check(condition: bool, message: str) -> bool:
    """Print a visible ✓/✗ line for the reader; raise `CheckFailed` in CI when it fails.

    In CI (`in_ci()`: `CI` set to a true value, or `S2S_PROFILE=ci`) or with `S2S_STRICT=1` a
    failing check raises, so the notebook run fails. Elsewhere it prints ✗ and lets the learner
    carry on exploring."""
    if condition:
        print(f"✓ {message}")
        return True
    if in_ci() or os.environ.get("S2S_STRICT") == "1":
        raise CheckFailed(f"✗ {message}")
    print(f"✗ {message}  (this self-check failed: see the text above it)")
    return False
