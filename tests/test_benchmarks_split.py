"""Benchmarks choose settings, so they never score on the test split.

The test split only judges a chapter's final models. Every `judge(...)` call in benchmarks/
must pass `split="valid"` explicitly (the function's default is "test"), and no benchmark
builds a loader or reads references of the test split."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_split_uses(source: str) -> list[str]:
    """Where a piece of code reaches the test split: `judge` without split="valid", or a
    `loader`/`references`/`dataset` call whose first argument is "test"."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        keywords = {k.arg: k.value for k in node.keywords}
        if name == "judge":
            split = keywords.get("split")
            if not (isinstance(split, ast.Constant) and split.value == "valid"):
                problems.append(f"line {node.lineno}: judge(...) without split=\"valid\"")
        elif name in ("loader", "references", "dataset"):
            first = node.args[0] if node.args else keywords.get("split")
            if isinstance(first, ast.Constant) and first.value == "test":
                problems.append(f"line {node.lineno}: {name}(\"test\", ...)")
    return problems


test_split_uses.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_no_benchmark_scores_on_the_test_split(path: Path):
    assert test_split_uses(path.read_text()) == [], f"{path.name} uses the test split"


@pytest.mark.parametrize("code, found", [
    ("judge(model, data)", 1),
    ("judge(model, data, split='test')", 1),
    ("judge(model, data, max_sentences=5, split='valid')", 0),
    ("data.loader('test', 64)", 1),
    ("data.references('test')", 1),
    ("data.loader('valid', 64); data.references(split='valid')", 0),
])
def test_the_check_finds_test_split_uses(code: str, found: int):
    assert len(test_split_uses(code)) == found
