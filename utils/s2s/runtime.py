"""Where a run happens: device choice, seeding, and the chapters' visible self-checks."""

from __future__ import annotations

import random

import numpy as np
import torch

from s2s import settings


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: `prefer` if given, else CUDA, else Apple's MPS, else the CPU.

    `S2S_DEVICE` (e.g. `cpu`) overrides the automatic choice. A device that is not a device
    name, or that this machine does not have, is an error naming where it came from."""
    where = "prefer" if prefer else "S2S_DEVICE"
    name = prefer or settings.value("S2S_DEVICE")
    if name:
        return _available(str(name), where)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_device(device: torch.device | str, where: str) -> torch.device:
    """`device` (an argument called `where`, e.g. "fit(device=...)") as a torch.device that
    this machine has; an error naming the argument otherwise."""
    return _available(str(device), where,
                      fix="pass device='cpu', or s2s.get_device() to choose automatically")


def _available(name: str, where: str, fix: str | None = None) -> torch.device:
    """torch.device(name), checked against the machine: CUDA or MPS asked for but absent is
    an error now rather than a failure deep inside the first training step."""
    fix = fix or ("unset S2S_DEVICE to choose automatically, or set S2S_DEVICE=cpu" if
                  where == "S2S_DEVICE" else "pass prefer=None to choose automatically, or 'cpu'")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{where}={name!r} is not a device name (cpu, cuda, cuda:0, mps): "
                         f"{fix}") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"{where}={name!r} asks for a CUDA GPU, but torch finds none on "
                               "this machine (torch.cuda.is_available() is False: no GPU, no "
                               f"driver, or a CPU-only torch): {fix}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"{where}={name!r} asks for GPU {device.index}, but this "
                               f"machine has {torch.cuda.device_count()}: use cuda:0 .. "
                               f"cuda:{torch.cuda.device_count() - 1}, or {fix}")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                     and torch.backends.mps.is_available()):
        raise RuntimeError(f"{where}={name!r} asks for Apple's MPS, which this machine does "
                           f"not have: {fix}")
    return device


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


class CheckFailed(AssertionError):
    """A chapter's self-check did not hold (raised in CI or strict mode: `s2s.settings.strict`)."""


def check(condition: bool, message: str) -> bool:
    """Print a visible ✓/✗ line for the reader; raise `CheckFailed` in CI when it fails.

    In CI (`CI` set to a true value) or with `S2S_STRICT=1` (`s2s.settings.strict`) a failing
    check raises, so the notebook run fails. Elsewhere it prints ✗ and lets the learner
    carry on exploring."""
    if condition:
        print(f"✓ {message}")
        return True
    if settings.strict():
        raise CheckFailed(f"✗ {message}")
    print(f"✗ {message}  (this self-check failed: see the text above it)")
    return False
