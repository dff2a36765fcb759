"""Execute the chapters listed in course.toml under nbval (--nbval-lax), timing each one.

Usage: S2S_PROFILE=ci python tools/run_chapters.py [--chapters STEM ...] [pytest args...]
       (`make chapters`, `make chapters CHAPTERS="01_encoder_decoder 02_data"`; on a GPU
       machine `make chapters PROFILE=gpu`)

The profile is S2S_PROFILE (`ci` when unset), and the summary names the one that ran. The
kernels run with S2S_STRICT=1, so that a chapter's failing self-check (`s2s.check`) raises and
fails its cell whatever the profile, and S2S_QUIET=1: at the `gpu` profile's speed a progress
bar and a live plot flood the kernel's output channel, and nbval stops waiting for output
("Timeout of 5 seconds exceeded").

At the `ci` profile each chapter has a time budget (course.toml's ci_budget_s): a chapter that
takes more than BUDGET_MARGIN times its budget (kernel start and every cell) fails the run, with
a line naming the chapter, its time and its budget after pytest's own summary. The margin
leaves room for a loaded machine and a cold model cache; a chapter that needs more is either
made smaller or given a larger budget in course.toml, on purpose. Exits with pytest's status,
or 1 when every cell passed but a chapter ran over."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from course import ROOT, book_problems, chapters
from s2s.profiles import PROFILE_NAMES

BUDGET_MARGIN = 1.5
# what the kernels are told: self-checks raise, training progress stays quiet
KERNEL_ENV = {"S2S_STRICT": "1", "S2S_QUIET": "1"}
# At ci, one torch thread per kernel: the ci models are tiny, and their budgets are minutes, so
# two threads thrashing on a loaded 2-core machine left a model 1-2 steps (0.43 s a step with
# one thread, 3.49 s with two, at load 9; chapter 7's Chinese model: 2 steps in 8.8 s at load
# 4, 231 steps with one thread), and the ci self-checks then rightly fail a model that did not
# learn. Set OMP_NUM_THREADS yourself to override.
CI_KERNEL_ENV = {"OMP_NUM_THREADS": "1"}


def over_budget(seconds: dict[str, float], budgets: dict[str, float],
                margin: float = BUDGET_MARGIN) -> list[str]:
    """One message per chapter (stem -> wall seconds) that took more than `margin` times its
    budget (stem -> seconds); chapters without a budget are not judged."""
    return [f"{stem} took {secs:.1f} s, more than {margin:g} x its ci budget of "
            f"{budgets[stem]:g} s (course.toml ci_budget_s; at most {margin * budgets[stem]:g} s)"
            for stem, secs in seconds.items()
            if stem in budgets and secs > margin * budgets[stem]]


class NotebookTimer:
    """Adds up each notebook's wall time (kernel start, every cell) and prints it at the end."""

    def __init__(self, profile: str, budgets: dict[str, float]) -> None:
        self.profile, self.budgets = profile, budgets
        self.seconds: dict[str, float] = defaultdict(float)  # chapter stem -> wall seconds
        self.started: dict[str, float] = {}

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.started.setdefault(Path(nodeid.split("::")[0]).stem, time.perf_counter())

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        stem = Path(nodeid.split("::")[0]).stem
        self.seconds[stem] = time.perf_counter() - self.started[stem]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.section(f"chapter wall times (S2S_PROFILE={self.profile})")
        for stem, secs in self.seconds.items():
            budget = self.budgets.get(stem)
            if budget is None:
                terminalreporter.write_line(f"{stem}: {secs:.1f} s")
                continue
            note = "" if secs <= budget else (
                "  over budget" if secs <= BUDGET_MARGIN * budget else "  OVER BUDGET: fails")
            terminalreporter.write_line(f"{stem}: {secs:.1f} s (budget {budget:g} s){note}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("--chapters", nargs="+", default=None,
                        help="chapter stems (default: every chapter in course.toml)")
    args, extra = parser.parse_known_args(argv)
    os.chdir(ROOT)
    profile = os.environ.setdefault("S2S_PROFILE", "ci")
    if profile not in PROFILE_NAMES:
        print(f"FAIL: S2S_PROFILE={profile!r}; use one of {', '.join(PROFILE_NAMES)}")
        return 2
    os.environ.update(KERNEL_ENV)  # the kernels nbval starts inherit this environment
    if profile == "ci":
        for name, value in CI_KERNEL_ENV.items():
            os.environ.setdefault(name, value)
    problems = book_problems(ROOT)
    if problems:
        print("\n".join(f"FAIL: {p}" for p in problems))
        return 1
    listed = chapters(ROOT)
    if args.chapters:
        unknown = sorted(set(args.chapters) - {c.file for c in listed})
        if unknown:
            print(f"FAIL: --chapters: unknown chapter(s) {', '.join(unknown)}; the course has "
                  f"{', '.join(c.file for c in listed)}")
            return 2
        listed = [c for c in listed if c.file in args.chapters]
    pytest_args = [
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
    status = int(pytest.main(pytest_args, plugins=[timer]))
    over = over_budget(timer.seconds, budgets)
    for line in over:
        print(f"FAIL: {line}")
    return status or (1 if over else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
