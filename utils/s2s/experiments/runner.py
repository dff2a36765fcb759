"""Running a whole experiment: its budgets, its runs (with a progress bar over them), and its
results file."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch

from s2s.experiments.declaration import Experiment
from s2s.experiments.results import write_results
from s2s.experiments.runs import DataCache, DataLoader, Run, default_load_data, execute, plan
from s2s.experiments.speed import arm_steps


class RunsProgress:
    """A progress bar over an experiment's runs on a terminal (the current run and its step
    in the description); elsewhere (a log file, CI, S2S_QUIET=1) a line per finished run."""

    def __init__(self, exp: Experiment, total: int, done: int, show: bool | None,
                 log: Callable[[str], None]) -> None:
        from tqdm import tqdm

        from s2s import settings

        if show is None:
            show = sys.stderr.isatty() and not settings.quiet()
        self.exp, self.total, self.count, self.log = exp, total, done, log
        self.bar = tqdm(total=total, initial=done, unit="run", desc=exp.name,
                        dynamic_ncols=True) if show else None

    def status(self, run: Run, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description(f"{self.exp.name} {run.arm.name} seed {run.seed}")
            self.bar.set_postfix_str(text)

    def finished(self, run: Run, record: dict) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        score = record["final"][self.exp.metric]
        took = record.get("train_seconds", 0.0) + record["eval_seconds"]
        self.log(f"[{self.count}/{self.total}] {self.exp.name}: {run.arm.name} seed {run.seed}, "
                 f"{record['steps']:,} steps, valid {self.exp.metric} {score:.2f} "
                 f"({took:.0f} s of training and judging)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_experiment(exp: Experiment, root: str | Path, *, seeds: tuple[int, ...] | None = None,
                   device: torch.device | str | None = None, load_data: DataLoader | None = None,
                   progress: bool | None = None, log: Callable[[str], None] = print,
                   command: str | None = None, threads: int | None = None) -> Path | None:
    """Run (or finish) every arm of `exp` for `seeds` (default: the declared ones) under
    `root` (the repository: experiments/, cache/experiments/, results/), then write
    results/NAME.json once every declared run is done; returns its path (None before).

    device: default `s2s.get_device()`. threads: torch's CPU threads (default: 1 on a CPU,
    torch's own choice on a GPU). On the course's shared 2-core machine two threads ran a
    GRU step ten times slower than one while other processes used the cores (3.0 against
    34.6 steps/s, load average 3 to 5): one thread per process, and several processes
    (`--seeds`) to use more cores. load_data: [data] settings -> TranslationData (default
    `load_translation`; tests pass a tiny corpus). Runs another process is doing are left to
    it and waited for at the end."""
    from s2s.runtime import check_device, get_device

    root = Path(root)
    device = get_device() if device is None else check_device(device, "device")
    before = torch.get_num_threads()
    if threads is not None or device.type == "cpu":
        torch.set_num_threads(threads or 1)
    try:
        return _run(exp, root, seeds, device, load_data, progress, log, command)
    finally:
        torch.set_num_threads(before)


def _run(exp: Experiment, root: Path, seeds: tuple[int, ...] | None, device: torch.device,
         load_data: DataLoader | None, progress: bool | None, log: Callable[[str], None],
         command: str | None) -> Path | None:
    data_for = DataCache(load_data or default_load_data)
    steps, speed = arm_steps(exp, root, data_for, device, log)
    runs = plan(exp, root, tuple(seeds or exp.seeds), steps)
    todo = [r for r in runs if not r.done()]
    bar = RunsProgress(exp, len(runs), len(runs) - len(todo), progress, log)
    busy = []
    try:
        for run in todo:
            record = execute(run, data_for, device, wait=False,
                             on_progress=lambda text, run=run: bar.status(run, text))
            if record is None:
                busy.append(run)
            else:
                bar.finished(run, record)
        for run in busy:
            log(f"{exp.name}: {run.arm.name} seed {run.seed} is running in another process; "
                "waiting for it")
            bar.finished(run, execute(run, data_for, device,
                                      on_progress=lambda text, run=run: bar.status(run, text)))
    finally:
        bar.close()
    command = command or f"python -m s2s.experiments run {exp.name}" + (
        f" --profile {exp.profile}" if exp.profile != "cpu" else "")
    path = write_results(exp, root, steps, speed, command)
    if path is None:
        missing = [f"{a} seed {s}" for a in exp.arms for s in exp.seeds
                   if not any(r.arm.name == a and r.seed == s for r in runs)]
        log(f"{exp.name}: results are written when every declared run is done; still to run: "
            f"{', '.join(missing)}")
    return path
