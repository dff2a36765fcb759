"""Settings from the environment: the one module of the library that reads a variable.

Every `S2S_*` variable the library knows is in `VARIABLES`, with what it sets; the README's
Settings table lists the same names (tests/test_settings.py checks both ways, and that no
other module reads one). `CI` is the switch for continuous integration: set to anything but
"", "0", "false" or "no" (any case), training is quiet and a failing self-check raises. It
is independent of the size profile: `S2S_PROFILE=ci` picks small sizes and nothing else.

The functions return what the environment says, unparsed where the caller owns the check
(a device name, a folder, a number of seconds): the caller's error then names the variable.
"""

from __future__ import annotations

import os

VARIABLES: dict[str, str] = {
    "S2S_PROFILE": "run sizes: ci, cpu or gpu (default: gpu with CUDA, else cpu)",
    "S2S_DEVICE": "the device to compute on (default: CUDA, else MPS, else the CPU)",
    "S2S_DATA_DIR": "a folder mirroring the corpus files (then nothing is downloaded)",
    "S2S_CACHE_DIR": "where downloads and trained models are cached",
    "S2S_QUIET": "1: no progress bar or live plot",
    "S2S_STRICT": "1: a failing self-check raises instead of printing ✗",
    "S2S_DOWNLOAD_STALL": "seconds without a byte before a download is abandoned",
    "S2S_DOWNLOAD_DEADLINE": "seconds a whole download may take",
}
# Read by the test suite only, never by the library; listed in the README's table too.
TEST_VARIABLES: dict[str, str] = {
    "S2S_REQUIRE_BROWSER": "1: the book's browser test fails instead of skipping",
    "S2S_WRITE_LOG": "the distributed test's record of checkpoint writes",
}
NOT_CI = ("", "0", "false", "no")  # values of $CI (any case, spaces ignored) that mean "not CI"


def value(name: str) -> str | None:
    """The variable `name` (one of VARIABLES), None when unset or empty."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not a setting of s2s: known are {', '.join(VARIABLES)}")
    return os.environ.get(name) or None


def in_ci() -> bool:
    """Whether this is a CI run: `CI` set to anything but "", "0", "false" or "no"."""
    return os.environ.get("CI", "").strip().lower() not in NOT_CI


def quiet() -> bool:
    """No progress display: in CI, or with S2S_QUIET=1."""
    return in_ci() or value("S2S_QUIET") == "1"


def strict() -> bool:
    """A failing self-check raises: in CI, or with S2S_STRICT=1."""
    return in_ci() or value("S2S_STRICT") == "1"
