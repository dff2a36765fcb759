"""The cache guard: what training computes is recorded with the CACHE_VERSION it was recorded
under; a change to the numbers fails with what to do, and an edit that computes the same
numbers (an error message, a docstring) keeps every cached model.

The demonstrations run `tests/numerics.py` on an edited copy of the package in a subprocess
(a few seconds each)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import numerics
import s2s
from s2s.attention import SCORES
from s2s.cache_version import CACHE_VERSION
from s2s.models import MODEL_BUILDERS
from s2s.zoo import code_version

PACKAGE = Path(s2s.__file__).parent
TESTS = Path(__file__).parent


def test_code_version_is_the_cache_version():
    assert code_version() == f"v{CACHE_VERSION}"


def test_the_fixture_was_recorded_under_this_cache_version():
    recorded = json.loads(numerics.FIXTURE.read_text())["cache_version"]
    assert recorded == CACHE_VERSION, (
        f"tests/data/numerics.json was recorded under CACHE_VERSION {recorded}, the code says "
        f"{CACHE_VERSION}: re-record it with `PYTHONPATH=utils python tests/numerics.py`")


def test_every_model_kind_and_score_is_recorded():
    kinds = {kind for _, kind, _ in numerics.KINDS}
    scores = {extra.get("attention") for _, kind, extra in numerics.KINDS if kind != "rnn"}
    assert kinds == set(MODEL_BUILDERS), f"unrecorded kinds: {set(MODEL_BUILDERS) - kinds}"
    assert set(SCORES) <= scores, f"unrecorded scores: {set(SCORES) - scores}"


def check_copy(package: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`numerics.py --check` against an edited copy of the package."""
    env = {**os.environ, "PYTHONPATH": f"{package.parent}{os.pathsep}{TESTS}",
           "OMP_NUM_THREADS": "1"}
    env.pop("S2S_CACHE_DIR", None)
    return subprocess.run([sys.executable, str(TESTS / "numerics.py"), "--check"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "lib" / "s2s"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new, 1))


def test_an_edited_message_keeps_the_cache_and_a_training_change_fails(package_copy,
                                                                      tmp_path):
    edit(package_copy / "train.py", "training diverged at step", "training blew up at step")
    edit(package_copy / "train.py", '"""Training: the masked loss', '"""Training (edited)')
    kept = check_copy(package_copy, tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    edit(package_copy / "train.py", "label_smoothing: float = 0.0\n",
         "label_smoothing: float = 0.1\n")
    changed = check_copy(package_copy, tmp_path)
    assert changed.returncode == 1
    assert "raise CACHE_VERSION" in changed.stdout and "tests/numerics.py" in changed.stdout


def test_re_recording_changed_numbers_needs_a_new_version(tmp_path, monkeypatch):
    """The recorder refuses to write changed numbers under the version they replace."""
    fixture = tmp_path / "numerics.json"
    fixture.write_text(json.dumps({"cache_version": CACHE_VERSION, "numbers": {"x": 1.0}}))
    with pytest.raises(SystemExit, match="raise CACHE_VERSION"):
        numerics.record({"x": 2.0}, fixture, CACHE_VERSION)
    numerics.record({"x": 2.0}, fixture, CACHE_VERSION + 1)
    assert json.loads(fixture.read_text()) == {"cache_version": CACHE_VERSION + 1,
                                               "numbers": {"x": 2.0}}
    numerics.record({"x": 2.0}, fixture, CACHE_VERSION + 1)  # the same numbers: fine
