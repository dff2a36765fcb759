"""Execute every chapter listed in course.toml under nbval (--nbval-lax), printing wall times.

Usage: S2S_PROFILE=ci python tests/tools/run_chapters.py [pytest args...]
       (`make chapters`; on a GPU machine `make chapters PROFILE=gpu`)
The profile is S2S_PROFILE (`ci` when unset), and the summary names the one that ran. Training
progress is quiet (S2S_QUIET=1 unless set otherwise): at the `gpu` profile's speed a progress
bar and a live plot flood the kernel's output channel, and nbval stops waiting for output
("Timeout of 5 seconds exceeded"). The budgets (course.toml's ci_budget_s) apply to `ci` only.
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
from s2s.profiles import PROFILE_NAMES  # noqa: E402


class NotebookTimer:
    """Adds up each notebook's wall time (kernel start, every cell) and prints it at the end."""

    def __init__(self, profile: str, budgets: dict[str, float]) -> None:
        self.profile, self.budgets = profile, budgets
        self.seconds: dict[str, float] = defaultdict(float)
        self.started: dict[str, float] = {}

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.started.setdefault(nodeid.split("::")[0], time.perf_counter())

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        name = nodeid.split("::")[0]
        self.seconds[name] = time.perf_counter() - self.started[name]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.section(f"chapter wall times (S2S_PROFILE={self.profile})")
        for name, secs in self.seconds.items():
            budget = self.budgets.get(Path(name).stem)
            if budget is None:
                terminalreporter.write_line(f"{name}: {secs:.1f} s")
                continue
            note = "" if secs <= budget else "  OVER BUDGET"
            terminalreporter.write_line(f"{name}: {secs:.1f} s (budget {budget:.0f} s){note}")


def main(extra: list[str]) -> int:
    os.chdir(ROOT)
    profile = os.environ.setdefault("S2S_PROFILE", "ci")
    if profile not in PROFILE_NAMES:
        print(f"FAIL: S2S_PROFILE={profile!r}; use one of {', '.join(PROFILE_NAMES)}")
        return 2
    os.environ.setdefault("S2S_QUIET", "1")
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
    budgets = {c.file: c.ci_budget_s for c in listed} if profile == "ci" else {}
    timer = NotebookTimer(profile, budgets)
    return int(pytest.main(args, plugins=[timer]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
