"""The real corpus in tests: there in CI (S2S_DATA_DIR), skipped elsewhere when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s2s.download import DataError, Release, fetch


def require_corpus(dataset: str = "fra-eng") -> tuple[Path, Release]:
    """`fetch(dataset)`; without it, the test is skipped, except in CI or with a mirror set
    (S2S_DATA_DIR), where a missing corpus is an error."""
    try:
        return fetch(dataset)
    except DataError as err:
        if os.environ.get("CI") or os.environ.get("S2S_DATA_DIR"):
            raise
        pytest.skip(f"the real corpus is not available here: {err}")
