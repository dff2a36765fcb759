"""python -m s2s.experiments list | run NAME | report NAME (see the package's docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import s2s.experiments
from s2s.experiments.declaration import (
    EXPERIMENT_PROFILES,
    ExperimentError,
    find_experiments,
    find_root,
    load_experiment,
)


def _list(root: Path) -> None:
    from s2s.experiments.results import results_path

    for path in find_experiments(root / "experiments"):
        try:
            exp = load_experiment(path)
        except ExperimentError as err:
            print(f"{path.stem}: cannot be read: {err}")
            continue
        there = "results committed" if results_path(root, exp).exists() else "no results yet"
        budget = (f"{exp.arms[exp.control].settings['train'].get('max_steps', 0):,} steps"
                  if exp.kind == "train" else f"decodes {exp.source[0]}:{exp.source[1]}")
        print(f"{exp.name} ({exp.kind}, {budget}{', equal time' if exp.budget == 'time' else ''}"
              f", seeds {list(exp.seeds)}; {there})\n  {exp.question}\n  arms: "
              + ", ".join(exp.arms))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m s2s.experiments",
                                     description=s2s.experiments.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None,
                        help="the folder holding experiments/ (default: found upwards)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the declared experiments")
    p_run = commands.add_parser("run", help="run (or continue) an experiment")
    p_report = commands.add_parser("report", help="summarise an experiment's results file")
    for p in (p_run, p_report):
        p.add_argument("name")
        p.add_argument("--profile", choices=EXPERIMENT_PROFILES, default="cpu")
    p_run.add_argument("--seeds", type=int, nargs="+", default=None,
                       help="run these seeds only (default: the declared ones)")
    p_run.add_argument("--device", default=None, help="cpu, cuda, ... (default: by hardware)")
    p_run.add_argument("--threads", type=int, default=None,
                       help="torch's CPU threads (default: 1 on a CPU; see run_experiment)")
    args = parser.parse_args(argv)
    try:
        root = args.root or find_root()
        if args.command == "list":
            _list(root)
            return 0
        exp = load_experiment(root / "experiments" / f"{args.name}.toml", args.profile)
        if args.command == "run":
            from s2s.experiments.report import format_report
            from s2s.experiments.runner import run_experiment
            from s2s.experiments.runs import read_json

            path = run_experiment(exp, root, seeds=tuple(args.seeds) if args.seeds else None,
                                  device=args.device, threads=args.threads)
            if path is not None:
                print(f"wrote {path}\n")
                print(format_report(read_json(path)))
        else:
            from s2s.experiments.report import format_report
            from s2s.experiments.results import results_path
            from s2s.experiments.runs import read_json

            path = results_path(root, exp)
            if not path.is_file():
                raise ExperimentError(f"no results at {path}: run `python -m s2s.experiments "
                                      f"run {args.name}` first")
            print(format_report(read_json(path)))
    except ExperimentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
