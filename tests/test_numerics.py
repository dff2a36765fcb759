"""Refactorings keep what the library computes: logits, searches, training losses, the
chapters' configs and cache file names equal tests/data/numerics.json (floats to 1e-6)."""

from __future__ import annotations

import json

import numerics


def test_numbers_equal_the_recorded_ones():
    want = json.loads(numerics.FIXTURE.read_text())
    got = numerics.normalised(numerics.compute())
    differences = numerics.compare(got, want)
    assert not differences, (
        f"{len(differences)} recorded numbers changed, first: {differences[:5]}. If the change "
        "is meant to alter them, raise CACHE_VERSION and regenerate with "
        "`PYTHONPATH=utils python tests/numerics.py`.")
