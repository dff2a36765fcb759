"""Fail when a chapter notebook and its jupytext twin disagree, or course.toml and chapters/ do.

Usage: python tools/check_pairs.py [ROOT]"""

import sys
from pathlib import Path

from course import ROOT, book_problems, pair_problems

if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    problems = book_problems(root) + pair_problems(root / "chapters")
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        sys.exit(1)
    print(f"ok: course.toml matches chapters/; every pair in {root / 'chapters'} is in sync")
