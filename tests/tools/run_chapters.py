"""Execute every chapter listed in book.toml under nbval (--nbval-lax), printing wall times.

Usage: S2S_PROFILE=ci python tests/tools/run_chapters.py [pytest args...]
Exits with pytest's status; the last line is pytest's summary."""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from course import ROOT, book_problems, chapters  # noqa: E402


class NotebookTimer:
    """Adds up each notebook's wall time (kernel start, every cell) and prints it at the end."""

    def __init__(self, budgets: dict[str, float]) -> None:
        self.budgets = budgets
        self.seconds: dict[str, float] = defaultdict(float)
        self.started: dict[str, float] = {}

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.started.setdefault(nodeid.split("::")[0], time.perf_counter())

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        name = nodeid.split("::")[0]
        self.seconds[name] = time.perf_counter() - self.started[name]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.section("chapter wall times (S2S_PROFILE=ci)")
        for name, secs in self.seconds.items():
            budget = self.budgets.get(Path(name).stem)
            note = "" if budget is None or secs <= budget else "  OVER BUDGET"
            terminalreporter.write_line(f"{name}: {secs:.1f} s (budget {budget:.0f} s){note}")


def main(extra: list[str]) -> int:
    os.chdir(ROOT)
    problems = book_problems(ROOT)
    if problems:
        print("\n".join(f"FAIL: {p}" for p in problems))
        return 1
    listed = chapters(ROOT)
    args = [
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
        "-p", "no:cacheprovider",
        "--rootdir", str(ROOT),
        "-o", "testpaths=",
        *extra,
        *[str(c.notebook(ROOT).relative_to(ROOT)) for c in listed],
    ]
    timer = NotebookTimer({c.file: c.ci_budget_s for c in listed})
    return int(pytest.main(args, plugins=[timer]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
