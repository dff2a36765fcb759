"""Refactorings keep what the library computes: logits, searches, training losses, the data
pipeline, the chapters' configs and cache file names equal tests/data/numerics.json (floats to
1e-6). A change fails here with what to do (see tests/numerics.py and s2s.cache_version)."""

from __future__ import annotations

import numerics


def test_numbers_equal_the_recorded_ones():
    _, want = numerics.recorded()
    got = numerics.normalised(numerics.compute())
    differences = numerics.compare(got, want)
    assert not differences, (
        f"{len(differences)} recorded numbers changed, first: {differences[:5]}. "
        + numerics.HOW)
