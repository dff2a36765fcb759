"""The results file: every finished run of an experiment, with its provenance.

results/NAME.json (NAME-gpu.json for the gpu profile) is written once every declared arm x
seed is done; it is small enough to commit (the valid sentences once, each run's hypotheses,
curves and scores)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import torch

from s2s.experiments.declaration import Experiment
from s2s.experiments.runs import (
    now,
    plan,
    read_json,
    short_hash,
    source_experiment,
    work_dir,
    write_json,
)

RESULTS_FORMAT = 1


def results_path(root: Path, exp: Experiment) -> Path:
    return Path(root) / "results" / f"{exp.results_name}.json"


def provenance(root: Path, devices: set[str], precisions: set[str]) -> dict:
    """What produced the results: commit (and whether the library or the declarations had
    uncommitted changes), CACHE_VERSION, versions, device, precision, date."""
    import sacrebleu

    from s2s.cache_version import CACHE_VERSION

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                 text=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    status = git("status", "--porcelain", "--untracked-files=no", "--", "utils", "experiments")
    return {"git_commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": None if status is None else bool(status),
            "cache_version": CACHE_VERSION, "torch": torch.__version__,
            "sacrebleu": sacrebleu.__version__, "python": sys.version.split()[0],
            "device": sorted(devices), "precision": sorted(precisions),
            "threads": torch.get_num_threads(), "date": now()}


RUN_FILE = re.compile(r"(?P<arm>[a-z][a-z0-9_]*)-s(?P<seed>[0-9]+)-(?P<key>[0-9a-f]{12})\.json")


def _finished(exp: Experiment, root: Path, steps: dict[str, int]) -> list[dict]:
    """The records of every finished run of `exp` with its current settings: the declared
    seeds and any other seed that was run."""
    work = work_dir(root, exp)
    found = (RUN_FILE.fullmatch(p.name) for p in work.iterdir()) if work.exists() else ()
    seeds = set(exp.seeds) | {int(m["seed"]) for m in found if m}
    runs = plan(exp, root, tuple(sorted(seeds)), steps)
    return [read_json(r.record_path) for r in runs if r.done()]


def write_results(exp: Experiment, root: Path, steps: dict[str, int], speed: dict | None,
                  command: str) -> Path | None:
    """results/NAME.json from the finished runs, once every declared arm x seed is done;
    None (and nothing written) before."""
    records = _finished(exp, root, steps)
    have = {(r["arm"], r["seed"]) for r in records}
    if any((a, s) not in have for a in exp.arms for s in exp.seeds):
        return None
    valid_sets: dict[str, dict] = {}
    runs = []
    for record in records:
        valid = record["valid"]
        key = short_hash(valid)
        valid_sets[key] = valid
        runs.append({k: v for k, v in record.items() if k != "valid"} | {"valid_set": key})
    out = {
        "format": RESULTS_FORMAT, "experiment": exp.name, "profile": exp.profile,
        "command": command, "question": exp.question, "chapter": exp.chapter,
        "kind": exp.kind, "control": exp.control,
        "arms": {n: {"change": {k: list(v) for k, v in a.change.items()}}
                 for n, a in exp.arms.items()},
        "seeds": list(exp.seeds), "budget": exp.budget,
        "metric": {"name": exp.metric, "split": "valid", "sentences": exp.sentences,
                   "points": exp.points},
        "decide": {"test": exp.test, "samples": exp.samples, "level": exp.level},
        "declaration_sha256": hashlib.sha256(exp.path.read_bytes()).hexdigest(),
        "speed": speed,
        "provenance": provenance(root, {r["device"] for r in records},
                                 {r.get("precision", "") for r in records} - {""}),
        "valid_sets": valid_sets,
        "runs": sorted(runs, key=lambda r: (list(exp.arms).index(r["arm"]), r["seed"])),
    }
    if exp.kind == "decode":
        sources = [read_json(r.source.record_path) for r in plan(exp, root, exp.seeds, steps)
                   if r.arm.name == exp.control]
        out["source"] = {"experiment": exp.source[0], "arm": exp.source[1],
                         "runs": [{k: v for k, v in s.items()
                                   if k not in ("valid", "hypotheses")} for s in sources]}
        out["provenance"]["precision"] = sorted({s["precision"] for s in sources})
    path = results_path(root, exp)
    write_json(path, out)
    return path


# ---------------------------------------------------------------------------------------------
# Checks: a results file a chapter cites must match its declaration and this code version

CITED = re.compile(r"results/([a-z][a-z0-9_]*(?:-gpu)?)\.json")


def cited_results(chapters: Path) -> dict[str, list[str]]:
    """The results files the chapters' .py twins mention: {results name: [chapter files]}."""
    cited: dict[str, list[str]] = {}
    for path in sorted(Path(chapters).glob("*.py")):
        for name in CITED.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(name, []).append(path.name)
    return cited


def expected_steps(exp: Experiment, speed: dict | None) -> dict[str, int]:
    """Each arm's budget as `plan` takes it, from the declaration and a results file's
    recorded speed measurement (for budget = "time")."""
    if exp.kind == "decode":
        parent = source_experiment(exp)
        return {n: expected_steps(parent, speed)[exp.source[1]] for n in exp.arms}
    if exp.budget == "time":
        return dict(speed["steps"]) if speed else {}
    return {n: a.settings["train"]["max_steps"] for n, a in exp.arms.items()}


def check_results(root: Path, name: str) -> list[str]:
    """What is wrong with results/NAME.json (NAME or NAME-gpu): missing, produced under
    another CACHE_VERSION, or lacking a run (arm x seed) its declaration asks for, or holding
    one made with other settings. An empty list: nothing."""
    from s2s.cache_version import CACHE_VERSION
    from s2s.experiments.declaration import ExperimentError, load_experiment

    root = Path(root)
    stem, profile = (name[:-4], "gpu") if name.endswith("-gpu") else (name, "cpu")
    path = root / "results" / f"{name}.json"
    rerun = f"python -m s2s.experiments run {stem}" + (" --profile gpu" if profile == "gpu"
                                                        else "")
    if not path.is_file():
        return [f"{path} is missing: run `{rerun}` and commit it"]
    try:
        exp = load_experiment(root / "experiments" / f"{stem}.toml", profile)
    except ExperimentError as err:
        return [f"{path}: its declaration cannot be read: {err}"]
    results = read_json(path)
    problems = []
    made_with = results.get("provenance", {}).get("cache_version")
    if made_with != CACHE_VERSION:
        problems.append(f"{path} was produced under CACHE_VERSION {made_with}, the code is at "
                        f"{CACHE_VERSION}: training changed since; run `{rerun}`")
    steps = expected_steps(exp, results.get("speed"))
    have = {(r["arm"], r["seed"]): r["key"] for r in results.get("runs", [])}
    for run in plan(exp, root, exp.seeds, steps) if len(steps) == len(exp.arms) else ():
        key = have.get((run.arm.name, run.seed))
        if key is None:
            problems.append(f"{path} lacks the run of arm {run.arm.name!r}, seed {run.seed} "
                            f"that {exp.path.name} asks for: run `{rerun}`")
        elif key != run.key:
            problems.append(f"{path}: the run of arm {run.arm.name!r}, seed {run.seed} was made "
                            f"with other settings than {exp.path.name} now gives (key {key}, "
                            f"expected {run.key}): run `{rerun}`")
    if len(steps) != len(exp.arms):
        problems.append(f"{path} has no speed measurement for its equal-time budget: run "
                        f"`{rerun}`")
    return problems
