"""The version of what training produces: part of every cached model's key.

A cached model (`s2s.zoo.cached_model`) is reused only while CACHE_VERSION is unchanged.
Raise CACHE_VERSION by hand when a change alters what training produces — the models, the
loop, the loss, batching, tokenisation, vocabularies, seeding — so that every learner's cache
retrains. Cosmetic changes (comments, docstrings, figures, decoding, metrics) keep it, so
they never force an 8-minute retraining.

TRAINING_FINGERPRINT guards against forgetting: it is a hash of the code (not the comments
or docstrings) of the modules in TRAINING_MODULES, and tests/test_cache_version.py fails
when the code no longer matches it. Then: if the change alters training, raise
CACHE_VERSION; either way, copy the new fingerprint the test prints into this file. This
module is not itself fingerprinted."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

CACHE_VERSION = 3
TRAINING_FINGERPRINT = "6de36315a77dd712"

# Paths relative to the package folder; a folder means every .py file under it.
TRAINING_MODULES = ("attention.py", "checkpoints.py", "checks.py", "data.py", "distributed.py",
                    "models", "precision.py", "runtime.py", "text.py", "train.py", "vocab.py",
                    "zoo.py")


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_fingerprint(source: str) -> str:
    """A hash of Python source that ignores comments, docstrings and formatting."""
    tree = _strip_docstrings(ast.parse(source))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def training_fingerprint(root: str | Path | None = None) -> str:
    """The fingerprint of TRAINING_MODULES under `root` (default: this package), 16 hex."""
    root = Path(root) if root is not None else Path(__file__).parent
    files: list[Path] = []
    for name in TRAINING_MODULES:
        path = root / name
        if not path.exists():
            raise FileNotFoundError(f"training module {name} listed in TRAINING_MODULES is "
                                    f"missing under {root}: update TRAINING_MODULES")
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(code_fingerprint(path.read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]
