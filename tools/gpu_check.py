"""The course measured at one profile in one run (issue 30), written to one JSON report.

Usage: python tools/gpu_check.py [--profile gpu] [--steps chapters,nmt,throughput,torchrun]
           [--chapters STEM ...] [--out results/gpu_check.json] [--budget-s S]
           [--limit STEP=S ...] [--commit SHA] [--precisions ...] [sizes: see --help]
       make gpu-check (here, in .venv: the gpu profile; `make gpu-check PROFILE=ci` rehearses
       it on a CPU). The command a GPU session runs, with its preamble: benchmarks/README.md.

The steps run in the order `--steps` gives, each in processes of its own under its own time
limit, so that one that fails, hangs or runs out of memory is recorded and the next one runs:
* chapters: every chapter (or `--chapters`) under nbval through tools/run_chapters.py, one
  chapter per run: wall time, pass/fail, failed cells and the figures it printed (lines with
  BLEU, chrF, steps, the profile, the ✓/✗ self-checks). The figures are read from the outputs
  nbval itself received, by this module loaded into the runner's pytest as a plugin (`-p
  gpu_check`): the chapter runs once, exactly as `make chapters` runs it, and the outputs of a
  cell that failed are kept too (executing a second copy with nbclient would double the time).
* nmt: chapter 7's English->French system (test BLEU and chrF, greedy and beam 5), its
  English->Chinese system (beam 5) and chapter 4's final model (greedy and beam 5), built as
  the chapters build them (tools/gpu_measure.py nmt: loaded from the cache when the chapters
  step trained them). Chapter 7 chooses its design by ablation at run time; the design used is
  the one its run in this report printed, else the one its stored outputs print (the report
  says which).
* throughput: benchmarks/train_throughput.py and decode_throughput.py in `--precisions`
  (fp32, bf16 and fp16 on a GPU), and, since the training benchmark has no batch flag, the
  whole-model training step at the profile's batch and at 4 times it (gpu_measure.py batches).
* torchrun: `torchrun --standalone --nproc_per_node 1 -m s2s train` on `--config`
  (configs/tiny.toml), then `s2s.distributed.join` under torchrun (NCCL on a GPU, gloo on a
  CPU) and one all_reduce (gpu_measure.py join): with one process `s2s train` forms no process
  group (it joins one for WORLD_SIZE > 1), so the second run is what exercises the backend.

The report is rewritten after every chapter and every measurement, so a run killed from outside
(a device machine's command limit) leaves what was done. `--budget-s` bounds the whole run:
each step's limit is cut to what is left, and a step or chapter that would start with less than
MIN_START_S left is recorded as skipped. Exit status: 0 when every step passed, 1 otherwise,
2 for a usage error."""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpu_measure import write_json

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("chapters", "nmt", "throughput", "torchrun")
LIMITS_S = {"chapters": 7200, "nmt": 3600, "throughput": 2400, "torchrun": 600}
MIN_START_S = 20  # a step or chapter is not started with less time than this left
RESERVE_S = 10  # kept back from --budget-s to write the report after the last step
GRACE_S = 20  # after SIGINT, how long a timed-out run gets to stop its children itself
# The throughput step's precisions: all three on a GPU; on a CPU fp16 is left out, since
# oneDNN has no fp16 LSTM there ("could not create a primitive descriptor for the LSTM forward
# propagation primitive", torch 2.13 on the CI machine) and `auto` never picks it on a CPU.
PRECISIONS = {"cuda": "fp32,bf16,fp16", "cpu": "fp32,bf16"}
# The benchmarks' sizes at the ci profile, a rehearsal of the code paths rather than a
# measurement (at the benchmarks' own sizes the ci rehearsal's throughput step took 25 minutes on
# the 2-core CI machine); the flags override them, and other profiles use the benchmarks' own.
REHEARSAL = {"bench_steps": 2, "bench_repeat": 1, "quality_steps": 20, "decode_sentences": 16}
NMT_CHAPTER = "07_nmt_system"
CAPTURE_VARIABLE = "GPU_CHECK_OUTPUTS"  # where the pytest plugin below writes cell outputs
FIGURE = re.compile(r"BLEU|chrF|\d steps|profile:|capstone's design|^[✓✗] ")
DESIGN = re.compile(r"the capstone's design: (\{.*\})")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --- the pytest plugin: each nbval cell's outputs, as nbval received them -------------------

def pytest_runtest_makereport(item, call) -> None:
    """With $GPU_CHECK_OUTPUTS set, append one JSON line per executed cell: its name, seconds,
    whether it passed, its text output and the error it raised. nbval keeps the outputs it
    received in `item.test_outputs` (empty when an nbval without it runs)."""
    path = os.environ.get(CAPTURE_VARIABLE)
    if not path or call.when != "call":
        return
    text, error = [], None
    for out in getattr(item, "test_outputs", None) or []:
        if out.get("output_type") == "stream":
            text.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            error = f"{out.get('ename')}: {out.get('evalue')}"
        elif "text/plain" in out.get("data", {}):
            text.append(out["data"]["text/plain"] + "\n")
    if call.excinfo is not None and error is None:
        error = ANSI.sub("", str(call.excinfo.value)).strip().split("\n")[0]
    record = {"cell": item.name, "seconds": round(call.duration, 2),
              "passed": call.excinfo is None, "text": "".join(text), "error": error}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


# --- processes ---------------------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    """The processes below `pid` (Linux /proc; none elsewhere), also those in a session of
    their own (a Jupyter kernel), which a signal to the process group would miss."""
    children = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, finished but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop(proc: subprocess.Popen) -> None:
    """SIGINT to the run and everything it started (pytest then shuts its kernel down, torchrun
    its workers), then, after GRACE_S or as soon as all have ended, SIGKILL to any left."""
    family = [proc.pid, *descendants(proc.pid)]
    for pid in family:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    ends = time.perf_counter() + GRACE_S
    while time.perf_counter() < ends and (proc.poll() is None or any(map(alive, family[1:]))):
        time.sleep(0.2)
    for pid in [proc.pid] * (proc.poll() is None) + [p for p in family[1:] if alive(p)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def default_sigint() -> None:
    """In the child, before it starts: SIGINT back to its default, which `stop` relies on. A
    shell's background job ignores SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(args: list[str], limit_s: float, env: dict[str, str]) -> dict:
    """Run `args` from the repository root for at most `limit_s` seconds; its record (the
    command, exit status, seconds, whether it timed out) and its whole stdout and stderr."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=err, text=True,
                                preexec_fn=default_sigint)
        try:
            proc.wait(timeout=max(limit_s, 0.1))
            timed_out = False
        except subprocess.TimeoutExpired:
            stop(proc)
            timed_out = True
        except BaseException:  # interrupted (SIGINT, or SIGTERM: see `check`): stop it too
            stop(proc)
            raise
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    shown = [a if a != sys.executable else "python" for a in args]
    return {"command": shlex.join(shown), "returncode": proc.returncode, "timed_out": timed_out,
            "limit_s": round(limit_s), "seconds": round(time.perf_counter() - start, 1),
            "stdout": stdout, "stderr": stderr}


def last_json(text: str) -> dict | None:
    """The JSON object a benchmark printed last (it may print lines before it)."""
    start = text.rfind("\n{")
    try:
        return json.loads(text[start + 1:] if start >= 0 else text)
    except json.JSONDecodeError:
        return None


@dataclass
class Step:
    """One step of the check: its part of the report, the time it may take, and `save`."""

    record: dict
    ends: float  # time.perf_counter() at which its limit runs out
    save: Callable[[], None]
    env: dict[str, str]
    scratch: Path  # a folder of its own, removed after the run

    def left(self) -> float:
        return self.ends - time.perf_counter()

    def run(self, name: str, args: list[str], **env: str) -> dict:
        """Run `args` with the step's time left; keep its record (and, when it failed, the
        end of its output) under runs[name]; save the report."""
        done = run(args, self.left(), {**self.env, **env})
        kept = {k: v for k, v in done.items() if k not in ("stdout", "stderr")}
        kept["ok"] = done["returncode"] == 0 and not done["timed_out"]
        if not kept["ok"]:
            kept["output_tail"] = (done["stdout"][-3000:] + "\n" + done["stderr"][-5000:]).strip()
        self.record.setdefault("runs", {})[name] = kept
        self.save()
        return done


# --- the steps ---------------------------------------------------------------------------------

def read_cells(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def chapters_step(step: Step, stems: list[str]) -> None:
    """Each chapter under nbval (tools/run_chapters.py, so its budgets and kernel settings
    apply), one run per chapter; its cells and figures from the plugin above."""
    found = step.record.setdefault("chapters", {})
    for stem in stems:
        if step.left() < MIN_START_S:
            found[stem] = {"status": "skipped", "why": "the step's time limit was reached"}
            step.record["limit_reached"] = True
            continue
        capture = step.scratch / f"{stem}.jsonl"
        done = step.run(stem, [sys.executable, "tools/run_chapters.py", "--chapters", stem,
                               "-p", "gpu_check"], **{CAPTURE_VARIABLE: str(capture)})
        cells = read_cells(capture)
        nbval_s = re.search(rf"^{re.escape(stem)}: ([\d.]+) s", done["stdout"], re.M)
        lines = [ln.strip() for c in cells for ln in c["text"].splitlines()]
        failed = [c for c in cells if not c["passed"]]
        found[stem] = {
            "status": ("timed_out" if done["timed_out"] else
                       "passed" if done["returncode"] == 0 else "failed"),
            "seconds": done["seconds"],
            "nbval_seconds": float(nbval_s.group(1)) if nbval_s else None,
            "cells_passed": len(cells) - len(failed), "cells_failed": len(failed),
            "failed_cells": [{"cell": c["cell"], "error": c["error"]} for c in failed[:5]],
            "over_budget": [ln[6:] for ln in done["stdout"].splitlines()
                            if ln.startswith("FAIL: ") and "budget" in ln],
            "figures": [ln[:300] for ln in lines if FIGURE.search(ln)][:200],
        }
        step.save()
    step.record["ok"] = all(c["status"] == "passed" for c in found.values())


def chapter7_design(report: dict) -> tuple[dict | None, str]:
    """The design chapter 7 chose by its ablations (its line "the capstone's design: {...}"):
    from its run in this report, else from the outputs stored in its notebook."""
    ran = report["steps"].get("chapters", {}).get("chapters", {}).get(NMT_CHAPTER, {})
    for line in ran.get("figures", []):
        if found := DESIGN.search(line):
            return (ast.literal_eval(found.group(1)),
                    f"chapter 7's run in this report ({report['profile']} profile)")
    stored = ROOT / "chapters" / f"{NMT_CHAPTER}.ipynb"
    for cell in json.loads(stored.read_text(encoding="utf-8"))["cells"]:
        for out in cell.get("outputs", []):
            if found := DESIGN.search("".join(out.get("text", ""))):
                return (ast.literal_eval(found.group(1)),
                        f"the outputs stored in chapters/{stored.name}, not this profile's "
                        "ablations (chapter 7 did not run in this report)")
    return None, f"none: chapter 7 did not run in this report, and {stored.name} prints none"


def worker_step(step: Step, name: str, args: list[str]) -> dict:
    """Run a measurement of tools/gpu_measure.py; it writes its results to a file after each
    part, so what it finished is kept even when it fails or is stopped."""
    result = step.scratch / f"{name}.json"
    step.run(name, [*args, "--result", str(result)])
    return json.loads(result.read_text()) if result.exists() else {}


def nmt_step(step: Step, report: dict, profile: str) -> None:
    design, source = chapter7_design(report)
    step.record.update(design=design, design_source=source)
    models = worker_step(step, "judge", [sys.executable, "tools/gpu_measure.py", "nmt",
                                         f"--profile={profile}", f"--design={json.dumps(design)}"])
    step.record["models"] = models
    step.record["ok"] = step.record["runs"]["judge"]["ok"] and all(
        m.get("ok") for m in models.values())


def throughput_step(step: Step, args: argparse.Namespace, report: dict) -> None:
    """The two benchmarks in every precision, and the training step at 1x and 4x the batch.
    decode_throughput.py decodes with chapter 4's final model, which it trains for the
    profile's `attention_minutes` unless chapter 4 cached it: when chapter 4 did not pass in
    this report and that training cannot fit in the time left, it is skipped, saying so."""
    import s2s

    training_s = 60 * s2s.get_profile(args.profile).attention_minutes + 60
    chapter4 = report["steps"].get("chapters", {}).get("chapters", {}).get("04_attention", {})
    common = [f"--profile={args.profile}", f"--precisions={args.precisions}"]
    steps = [f"--steps={args.bench_steps}"] if args.bench_steps else []
    repeat = [f"--repeat={args.bench_repeat}"] if args.bench_repeat else []
    quality = [] if args.quality_steps is None else [f"--quality-steps={args.quality_steps}"]
    sentences = [f"--sentences={args.decode_sentences}"] if args.decode_sentences else []
    parts = {"train_throughput": ["benchmarks/train_throughput.py", *steps, *repeat, *quality],
             "batch_4x": ["tools/gpu_measure.py", "batches", *steps, *repeat],
             "decode_throughput": ["benchmarks/decode_throughput.py", *repeat, *sentences]}
    for name, part in parts.items():
        if step.left() < MIN_START_S:
            step.record[name] = {"skipped": "the step's time limit was reached"}
            step.record["limit_reached"] = True
        elif (name == "decode_throughput" and chapter4.get("status") != "passed"
              and step.left() < training_s):
            step.record[name] = {"skipped": (
                f"chapter 4's model is not known to be cached (chapter 4 did not pass in this "
                f"report), and training it ({training_s:.0f} s with loading) does not fit in "
                f"the {step.left():.0f} s left")}
            step.record["limit_reached"] = True
        elif name == "batch_4x":
            step.record[name] = worker_step(step, name, [sys.executable, *part, *common])
        else:
            done = step.run(name, [sys.executable, *part, *common])
            step.record[name] = last_json(done["stdout"])
        step.save()
    step.record["ok"] = all(r["ok"] for r in step.record["runs"].values()) and all(
        m.get("ok") for m in step.record.get("batch_4x", {}).values())


def torchrun_step(step: Step, source: Path) -> None:
    """The config `source` trained by `s2s train` under torchrun (a copy in a scratch folder,
    where its checkpoint goes), then the process group joined as several processes join it."""
    folder = step.scratch
    config = folder / source.name
    config.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              "--nproc_per_node", "1"]
    done = step.run("train", [*launch, "-m", "s2s", "train", str(config)])
    summary = [ln for ln in done["stdout"].splitlines() if "best validation loss" in ln]
    shown = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
    step.record["train"] = {"config": str(shown), "summary": summary[-1] if summary else None,
                            "checkpoint_written": any(folder.glob("*.pt")),
                            "process_group": "none: with WORLD_SIZE=1 s2s train runs as one "
                                             "process (it joins a group for WORLD_SIZE > 1)"}
    if step.left() < MIN_START_S:
        step.record["limit_reached"] = True
    else:
        step.record["join"] = worker_step(step, "join",
                                          [*launch, "tools/gpu_measure.py", "join"])
    step.record["ok"] = all(r["ok"] for r in step.record["runs"].values()) and bool(
        step.record.get("join", {}).get("join", {}).get("ok"))


# --- the report --------------------------------------------------------------------------------

def source_digest() -> str:
    """sha256 over the course's code and notebooks (paths and contents): which code ran, also
    where the copy has no .git (a device machine's working tree) or uncommitted changes."""
    import hashlib

    digest = hashlib.sha256()
    folders = ("utils/s2s", "chapters", "tools", "benchmarks", "configs")
    files = [p for f in folders for p in (ROOT / f).rglob("*")
             if p.suffix in (".py", ".ipynb", ".toml") and "__pycache__" not in p.parts]
    for path in sorted([*files, ROOT / "course.toml", ROOT / "pyproject.toml"]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def provenance(argv: list[str], commit: str | None) -> dict:
    import datetime
    import importlib.metadata
    import platform

    import torch

    import s2s

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "missing"

    head, changes = git("rev-parse", "HEAD"), git("status", "--porcelain")
    device = s2s.get_device()
    cuda = device.type == "cuda"
    nccl = None
    if cuda:
        with_nccl = getattr(torch.cuda, "nccl", None)
        try:
            nccl = ".".join(map(str, with_nccl.version())) if with_nccl else None
        except RuntimeError:
            nccl = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "tools/gpu_check.py", *argv]),
        "git_commit": head or commit, "commit_from": "git" if head else (
            "--commit" if commit else None),
        "git_changed_files": None if changes is None else len(changes.splitlines()),
        "source_sha256": source_digest(),
        "python": platform.python_version(), "torch": torch.__version__, "s2s": s2s.__version__,
        "cuda": torch.version.cuda, "nccl": nccl, "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if cuda
                        else platform.processor() or platform.machine()),
        "capability": ".".join(map(str, torch.cuda.get_device_capability(device)))
        if cuda else None,
        "cpus": os.cpu_count(),
        "packages": {name: version(name) for name in (
            "torch", "numpy", "sacrebleu", "pooch", "pytest", "nbval", "nbformat",
            "jupyter_client", "ipykernel")},
    }


def status(record: dict) -> str:
    if "error" in record:
        return "error"  # this module failed, not what it measured
    if record.get("limit_reached") or any(r["timed_out"] for r in record.get("runs", {}).values()):
        return "timed_out"
    return "passed" if record.get("ok") else "failed"


def parse(argv: list[str]) -> argparse.Namespace:
    from s2s.profiles import PROFILE_NAMES

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--profile", default="gpu", choices=PROFILE_NAMES)
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"comma-separated, run in this order (default: {','.join(STEPS)})")
    parser.add_argument("--chapters", nargs="+", default=None,
                        help="chapter stems (default: every chapter in course.toml)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gpu_check.json")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="seconds for the whole run (default: no bound)")
    parser.add_argument("--limit", action="append", default=[], metavar="STEP=SECONDS",
                        help=f"a step's time limit (defaults: {LIMITS_S})")
    parser.add_argument("--commit", default=None,
                        help="the commit, recorded when the copy has no .git")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "tiny.toml",
                        help="what the torchrun step trains (default: configs/tiny.toml)")
    parser.add_argument("--precisions", default=None,
                        help="the throughput step's, comma-separated (default: "
                             f"{PRECISIONS['cuda']} on a GPU, {PRECISIONS['cpu']} elsewhere)")
    sizes = parser.add_argument_group(
        "benchmark sizes (default: the benchmarks' own; at the ci profile " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in REHEARSAL.items()) + ")")
    sizes.add_argument("--bench-steps", type=int, default=None, help="timed training steps")
    sizes.add_argument("--bench-repeat", type=int, default=None, help="rounds (medians)")
    sizes.add_argument("--quality-steps", type=int, default=None,
                       help="train_throughput.py's equal-steps quality check (0: skip)")
    sizes.add_argument("--decode-sentences", type=int, default=None)
    args = parser.parse_args(argv)
    for name, value in REHEARSAL.items():
        if args.profile == "ci" and getattr(args, name) is None:
            setattr(args, name, value)
    args.steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if not args.steps or set(args.steps) - set(STEPS):
        parser.error(f"--steps: choose among {','.join(STEPS)}, got {','.join(args.steps)}")
    args.limits = dict(LIMITS_S)
    for item in args.limit:
        name, _, seconds = item.partition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = 0.0
        if name not in STEPS or not value > 0:
            parser.error(f"--limit {item}: give STEP=SECONDS, STEP one of {', '.join(STEPS)}")
        args.limits[name] = value
    return args


def check(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the steps, saving the report after each part; 0 when every step passed."""
    from course import chapters

    known = [c.file for c in chapters(ROOT)]
    stems = args.chapters or known
    unknown = sorted(set(stems) - set(known))
    if unknown:
        print(f"--chapters: unknown chapter(s) {', '.join(unknown)}; the course has "
              f"{', '.join(known)}", file=sys.stderr)
        return 2
    python_path = os.pathsep.join(filter(None, [str(ROOT / "utils"),
                                                os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "S2S_PROFILE": args.profile, "S2S_QUIET": "1",
           "PYTHONPATH": python_path, "PYTHONUNBUFFERED": "1"}
    facts = provenance(argv, args.commit)
    args.precisions = args.precisions or PRECISIONS.get(facts["device"].split(":")[0], "fp32")
    report = {"report": "gpu_check (tools/gpu_check.py, issue 30)", "profile": args.profile,
              "provenance": facts, "steps_requested": args.steps,
              "precisions": args.precisions, "benchmark_sizes": {
                  name: getattr(args, name) for name in REHEARSAL},
              "limits_s": {s: args.limits[s] for s in args.steps}, "budget_s": args.budget_s,
              "steps": {}, "finished": False}
    out = args.out.resolve()

    def save() -> None:
        write_json(out, report)

    actions = {"chapters": lambda step: chapters_step(step, stems),
               "nmt": lambda step: nmt_step(step, report, args.profile),
               "throughput": lambda step: throughput_step(step, args, report),
               "torchrun": lambda step: torchrun_step(step, args.config)}
    for name in args.steps:
        report["steps"][name] = {"status": "pending"}
    begun = time.perf_counter()
    deadline = begun + args.budget_s - RESERVE_S if args.budget_s else float("inf")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill from outside: as Ctrl-C
    try:
        with tempfile.TemporaryDirectory(prefix="gpu_check_") as scratch:
            for name in args.steps:
                run_step(name, actions[name], report["steps"][name], deadline, args,
                         Path(scratch) / name, save, env)
    except KeyboardInterrupt:
        report["interrupted"] = True
    report.update(finished=not report.get("interrupted"),
                  seconds=round(time.perf_counter() - begun, 1))
    save()
    print(f"report: {out}")
    if report.get("interrupted"):
        return 130
    return 0 if all(r["status"] == "passed" for r in report["steps"].values()) else 1


def run_step(name: str, action: Callable[[Step], None], record: dict, deadline: float,
             args: argparse.Namespace, scratch: Path, save: Callable[[], None],
             env: dict[str, str]) -> None:
    """One step within its limit and what is left of the budget; its status in `record`."""
    now = time.perf_counter()
    if deadline - now < MIN_START_S:
        record.update(status="skipped", why=f"--budget-s {args.budget_s:g} was spent")
    else:
        scratch.mkdir()
        record["status"] = "running"
        try:
            action(Step(record, min(now + args.limits[name], deadline), save, env, scratch))
        except KeyboardInterrupt:
            record.update(status="interrupted", seconds=round(time.perf_counter() - now, 1))
            raise
        except Exception:  # a bug of this module in one step: the others still run
            record["error"] = traceback.format_exc()[-3000:]
        record.update(status=status(record), seconds=round(time.perf_counter() - now, 1))
    print(f"{name}: {record['status']}" + (f" in {record['seconds']:.0f} s"
                                           if "seconds" in record else ""), flush=True)
    save()


def main(argv: list[str]) -> int:
    return check(parse(argv), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
