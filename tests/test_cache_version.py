"""The cache version: cosmetic edits keep every cached model; training changes must bump it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import s2s
from s2s import cache_version
from s2s.cache_version import (
    CACHE_VERSION,
    TRAINING_FINGERPRINT,
    code_fingerprint,
    training_fingerprint,
)
from s2s.zoo import code_version

PACKAGE = Path(s2s.__file__).parent


def test_training_code_matches_its_fingerprint():
    """Fails when a training module's code changed. What to do is in the message."""
    now = training_fingerprint()
    assert now == TRAINING_FINGERPRINT, (
        f"the training code changed (fingerprint {now}, stored {TRAINING_FINGERPRINT}). If the "
        "change alters what training produces, raise CACHE_VERSION in "
        f"utils/s2s/cache_version.py (now {CACHE_VERSION}); in every case set "
        f'TRAINING_FINGERPRINT = "{now}" there.')


def test_code_version_is_the_cache_version():
    assert code_version() == f"v{CACHE_VERSION}"


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "s2s"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_comments_and_docstrings_do_not_change_the_fingerprint(package_copy: Path):
    before = training_fingerprint(package_copy)
    train = package_copy / "train.py"
    text = train.read_text()
    text = text.replace('"""Training: the masked loss', '"""Training (edited): the loss', 1)
    text = text.replace("\ndef fit(", "\n# a new comment\ndef fit(", 1)
    train.write_text(text + "\n# trailing comment\n")
    (package_copy / "plot.py").write_text("# any edit of a module that does not train\n")
    assert train.read_text() != (PACKAGE / "train.py").read_text()
    assert training_fingerprint(package_copy) == before


@pytest.mark.parametrize("module, old, new", [
    ("train.py", "clip: float = 1.0", "clip: float = 5.0"),
    ("models/rnn.py", "batch_first=True", "batch_first=True, bias=True"),
    ("vocab.py", "PAD, UNK, BOS, EOS = 0, 1, 2, 3", "PAD, UNK, BOS, EOS = 0, 1, 3, 2"),
    ("text.py", '"word": tokenize_words', '"word": tokenize_chars'),
])
def test_code_changes_in_training_modules_change_the_fingerprint(package_copy: Path,
                                                                 module, old, new):
    before = training_fingerprint(package_copy)
    path = package_copy / module
    assert old in path.read_text(), f"{module} no longer contains {old!r}: update this test"
    path.write_text(path.read_text().replace(old, new, 1))
    assert training_fingerprint(package_copy) != before


def test_a_missing_training_module_is_reported(package_copy: Path):
    (package_copy / "attention.py").unlink()
    with pytest.raises(FileNotFoundError, match="attention.py"):
        training_fingerprint(package_copy)


def test_the_fingerprint_ignores_formatting_but_not_code():
    assert code_fingerprint("x = (1 +\n     2)  # sum\n") == code_fingerprint("x = 1 + 2\n")
    assert code_fingerprint("x = 1 + 2\n") != code_fingerprint("x = 2 + 1\n")
    assert code_fingerprint('def f():\n    """doc"""\n    return 1\n') == \
        code_fingerprint("def f():\n    return 1\n")
    assert code_fingerprint('def f():\n    """doc"""\n') == code_fingerprint("def f():\n    pass\n")


def test_the_version_module_is_not_fingerprinted():
    assert "cache_version.py" not in cache_version.TRAINING_MODULES
