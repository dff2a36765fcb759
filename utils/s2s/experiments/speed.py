"""Equal time: each arm's budget in steps from a measured speed ratio.

A question asked "at equal training time" is answered with step budgets, which reproduce:
the control trains its [train] max_steps, and every other arm the number of steps it trains
in the same time on this device, from a short timed run of each arm. The measurement is made
once, kept in the experiment's work folder (every process and every resumed run uses the same
numbers) and recorded in the results file."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from s2s.experiments.declaration import Experiment
from s2s.experiments.runs import (
    DataCache,
    file_lock,
    model_config,
    now,
    read_json,
    short_hash,
    source_experiment,
    train_config,
    work_dir,
    write_json,
)


def arm_steps(exp: Experiment, root: Path, data_for: DataCache, device: torch.device,
              log: Callable[[str], None] = print) -> tuple[dict[str, int], dict | None]:
    """Each arm's budget in steps. budget = "steps": [train] max_steps. budget = "time": the
    control's max_steps, and for each other arm as many steps as it trains in the same time
    on this device: measured once (kept in the work folder, so that every process and every
    resumed run uses the same numbers) and recorded in the results."""
    steps = {n: a.settings["train"].get("max_steps", 0) for n, a in exp.arms.items()}
    if exp.kind == "decode":
        parent_steps, speed = arm_steps(source_experiment(exp), root, data_for, device, log)
        return {n: parent_steps[exp.source[1]] for n in exp.arms}, speed
    if exp.budget == "steps":
        return steps, None
    key = short_hash({"arms": {n: a.settings for n, a in exp.arms.items()},
                      "device": device.type, "threads": torch.get_num_threads(),
                      "timed": exp.speed_steps})
    path = work_dir(root, exp) / f"speed-{key}.json"
    with file_lock(work_dir(root, exp) / "locks" / f"speed-{key}.lock"):
        if not path.exists():
            log(f"{exp.name}: timing {exp.speed_steps} training steps of each arm on {device}")
            write_json(path, measure_speed(exp, data_for, device))
    speed = read_json(path)
    rate = speed["steps_per_second"]
    control_steps = steps[exp.control]
    speed["steps"] = {n: max(1, round(control_steps * rate[n] / rate[exp.control]))
                      for n in exp.arms}
    return speed["steps"], speed


def measure_speed(exp: Experiment, data_for: DataCache, device: torch.device,
                  rounds: int = 3) -> dict:
    """Training steps per second of each arm: the time of warm-up + `speed_steps` steps minus
    that of the warm-up alone (model building and the final validation cancel), the arms
    taking turns for `rounds` rounds, each arm's fastest round counting (the one least
    disturbed by other work on the machine). An untimed warm-up of every arm comes first: in
    a fresh process the first timed arm otherwise looked twice as fast (its short run paid
    the process's one-time costs, 43.5 against 23.3 steps/s for one arm).

    On a CPU with one torch thread the clock is the process's CPU time, which other
    processes on a shared machine barely change (wall-clock rates there varied twofold from
    one minute to the next); otherwise the wall clock."""
    from s2s.models import build_model
    from s2s.runtime import seed_everything
    from s2s.train import fit

    cpu_clock = device.type == "cpu" and torch.get_num_threads() == 1
    clock = time.process_time if cpu_clock else time.perf_counter
    warm = 5
    rates: dict[str, list[float]] = {n: [] for n in exp.arms}
    for timed in [False] + [True] * rounds:
        for name, arm in exp.arms.items():
            data = data_for(arm.settings["data"])
            seconds = []
            for n in (warm, warm + exp.speed_steps) if timed else (warm,):
                seed_everything(0)
                model = build_model(model_config(arm, data), data.src_vocab, data.tgt_vocab)
                cfg = replace(train_config(arm, 0, n), eval_every=n)
                start = clock()
                fit(model, data, cfg, device=device, progress=False)
                seconds.append(clock() - start)
            if timed:
                rates[name].append(exp.speed_steps / max(seconds[1] - seconds[0], 1e-9))
    return {"timed_steps": exp.speed_steps, "rounds": rounds, "device": str(device),
            "threads": torch.get_num_threads(),
            "clock": "process CPU time" if cpu_clock else "wall clock",
            "rates": rates, "steps_per_second": {n: max(r) for n, r in rates.items()},
            "date": now(), "load_average": list(os.getloadavg())}
