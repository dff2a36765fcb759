"""One run of an experiment: an arm from a seed, trained (or decoded), resumable.

A run of a "train" experiment trains its arm from its seed with `fit`, stopping at each point
of the metric's curve (a quarter of the budget each, by default) to judge the model (its best
validation weights so far) on the valid sentences, and writes its record once done. Its
checkpoint, `fit`'s own, lets an interrupted run continue exactly; the points already judged
are kept beside it. A run of a "decode" experiment decodes a source experiment's trained
model (training it first if it is missing). Each run's files are named by a hash of what
decides its outcome (settings, steps, seed, metric, CACHE_VERSION): a changed declaration
reruns only the arms it changed. A lock per run lets several processes share an experiment.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from s2s.experiments.declaration import SEARCH_DEFAULTS, Arm, Experiment, load_experiment

HUGE_EPOCHS = 1_000_000  # max_epochs that never binds: the budget is max_steps


def work_dir(root: Path, exp: Experiment) -> Path:
    """Where the runs' checkpoints and records live: root/cache/experiments/NAME[-gpu]."""
    return Path(root) / "cache" / "experiments" / exp.results_name


def short_hash(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def search_kwargs(search: dict) -> dict:
    """The arguments of `translate`/`judge` for a [search] table (beam_size 1 = greedy)."""
    s = {**SEARCH_DEFAULTS, **search}
    if s["beam_size"] == 1:
        return {}
    penalty = None if s["length_penalty"] == "none" else s["length_penalty"]
    return {"beam_size": s["beam_size"], "length_penalty": penalty, "alpha": s["alpha"]}


@dataclass(frozen=True)
class Run:
    """One arm from one seed. `steps`: its training budget (the source run's for a decode
    run, whose `source` is that run)."""

    exp: Experiment
    arm: Arm
    seed: int
    steps: int
    key: str
    work: Path
    source: Run | None = None

    def path(self, suffix: str) -> Path:
        return self.work / f"{self.arm.name}-s{self.seed}-{self.key}{suffix}"

    @property
    def record_path(self) -> Path:
        return self.path(".json")

    @property
    def checkpoint(self) -> Path:
        return self.path(".pt")

    def done(self) -> bool:
        return self.record_path.exists()


def run_key(arm: Arm, seed: int, steps: int, exp: Experiment) -> str:
    from s2s.cache_version import CACHE_VERSION

    return short_hash({"settings": arm.settings, "seed": seed, "steps": steps,
                  "sentences": exp.sentences, "points": exp.points, "code": CACHE_VERSION})


def plan(exp: Experiment, root: Path, seeds: tuple[int, ...], steps: dict[str, int]) -> list[Run]:
    """The runs of `exp` for `seeds`; `steps`: each arm's budget (see `arm_steps`; for a
    decode experiment, the source arm's budget under every arm's name)."""
    from s2s.cache_version import CACHE_VERSION

    if exp.kind == "train":
        return [Run(exp, arm, seed, steps[name], run_key(arm, seed, steps[name], exp),
                    work_dir(root, exp)) for seed in seeds for name, arm in exp.arms.items()]
    parent = source_experiment(exp)
    arm = parent.arms[exp.source[1]]
    budget = steps[exp.control]
    sources = {seed: Run(parent, arm, seed, budget, run_key(arm, seed, budget, parent),
                         work_dir(root, parent)) for seed in seeds}
    return [Run(exp, arm, seed, budget,
                short_hash({"source": sources[seed].key, "search": arm.settings["search"],
                       "sentences": exp.sentences, "code": CACHE_VERSION}),
                work_dir(root, exp), sources[seed])
            for seed in seeds for arm in exp.arms.values()]


def source_experiment(exp: Experiment) -> Experiment:
    """The training experiment whose models a decode experiment decodes."""
    return load_experiment(exp.path.parent / f"{exp.source[0]}.toml", exp.profile)


# ---------------------------------------------------------------------------------------------
# Small files: JSON written atomically, locks


def write_json(path: Path, value: object) -> None:
    """`value` as JSON at `path`, replaced whole (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def now() -> str:
    """The date and time in UTC, to the second (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def file_lock(path: Path):
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path)


# ---------------------------------------------------------------------------------------------
# Data, models, judging

DataLoader = Callable[[dict], object]  # [data] settings -> TranslationData


def default_load_data(settings: dict):
    from s2s.data import load_translation

    args = dict(settings)
    if "tokenizers" in args:
        args["tokenizers"] = tuple(args["tokenizers"])
    return load_translation(**args, verbose=False)


class DataCache:
    """Each distinct [data] table loaded once per process."""

    def __init__(self, load: DataLoader) -> None:
        self.load, self.loaded = load, {}

    def __call__(self, settings: dict):
        key = short_hash(settings)
        if key not in self.loaded:
            self.loaded[key] = self.load(settings)
        return self.loaded[key]


def model_config(arm: Arm, data):
    """The arm's model settings on `data`; its max_len is the data's limit, or the longest
    sequence of tokens when the limit counts other units (`TranslationData.model_max_len`)."""
    from s2s.models import ModelConfig

    return ModelConfig(src_vocab_size=len(data.src_vocab), tgt_vocab_size=len(data.tgt_vocab),
                       **{"max_len": data.model_max_len(arm.settings["data"]["max_len"]),
                          "tokenizers": tuple(data.tokenizers), **arm.settings["model"]})


def train_config(arm: Arm, seed: int, steps: int):
    from s2s.train import TrainConfig

    return TrainConfig(**{**arm.settings["train"], "max_steps": steps, "seed": seed,
                          "patience": None, "max_epochs": HUGE_EPOCHS})


def judge_valid(model, data, sentences: int, search: dict) -> tuple[dict, dict]:
    """BLEU, chrF and the length ratio (hypothesis / reference words, BLEU's) of `model` on
    the first `sentences` distinct valid sources; and the valid set and hypotheses."""
    from s2s.metrics import judge

    judged = judge(model, data, split="valid", max_sentences=sentences, **search_kwargs(search))
    details = judged.bleu.details
    scores = {"bleu": judged.bleu.score, "chrf": judged.chrf().score,
              "length_ratio": details.sys_len / max(details.ref_len, 1)}
    return scores, {"sources": judged.sources, "references": judged.references,
                    "hypotheses": judged.hypotheses}


def curve_points(steps: int, points: int) -> list[int]:
    """The steps at which the metric is measured: `points` evenly spaced, the last at `steps`."""
    return sorted({max(1, round(steps * i / points)) for i in range(1, points + 1)})


# ---------------------------------------------------------------------------------------------
# Runs


def execute(run: Run, data_for: DataCache, device: torch.device, *, wait: bool = True,
            on_progress: Callable[[str], None] = lambda text: None) -> dict | None:
    """Do `run`, or finish it after an interruption, and return its record (read back when it
    was done already). Holds the run's lock meanwhile; when another process holds it, waits
    for that one (`wait`) or returns None at once."""
    from filelock import Timeout

    lock = file_lock(run.work / "locks" / f"{run.path('').name}.lock")
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        return None
    try:
        if run.done():
            return read_json(run.record_path)
        if run.source is None and adopt_twin(run):
            return read_json(run.record_path)
        if run.source is None and not run.checkpoint.exists():
            extend_shorter(run)
        if run.source is not None:
            return _decode(run, data_for, device, on_progress)
        return _train(run, data_for, device, on_progress)
    finally:
        lock.release()


def twin_of(run: Run) -> Path | None:
    """A finished record of the same run (same key: same settings, seed, steps, metric and
    CACHE_VERSION) kept by another experiment of the same profile, e.g. a control arm two
    experiments share; None if there is none."""
    gpu = run.work.name.endswith("-gpu")
    pattern = f"*-s{run.seed}-{run.key}.json"
    for folder in sorted(run.work.parent.iterdir()):
        if folder == run.work or not folder.is_dir() or folder.name.endswith("-gpu") != gpu:
            continue
        for path in sorted(folder.glob(pattern)):
            if path.with_suffix(".pt").exists():
                return path
    return None


def adopt_twin(run: Run) -> bool:
    """Copy a twin's record (under this arm's name) and checkpoint instead of training the
    same run again; False when there is no twin."""
    import shutil

    twin = twin_of(run)
    if twin is None:
        return False
    run.work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(twin.with_suffix(".pt"), run.checkpoint)
    record = read_json(twin)
    record["arm"] = run.arm.name
    record["adopted_from"] = twin.parent.name
    write_json(run.record_path, record)
    return True


def shorter_run(run: Run) -> Run | None:
    """The longest finished run of the same arm and seed in this experiment, declared with
    a budget of steps that is one of `run`'s curve points (e.g. 4,000 steps for a run of 8,000
    judged every 2,000); None if there is none, or if `run`'s steps come from a time budget."""
    from dataclasses import replace

    if run.arm.settings["train"].get("max_steps") != run.steps:
        return None
    for steps in sorted(curve_points(run.steps, run.exp.points)[:-1], reverse=True):
        settings = {**run.arm.settings, "train": {**run.arm.settings["train"],
                                                  "max_steps": steps}}
        arm = replace(run.arm, settings=settings)
        shorter = Run(run.exp, arm, run.seed, steps, run_key(arm, run.seed, steps, run.exp),
                      run.work)
        if shorter.done() and shorter.checkpoint.exists() and same_validations(shorter, run):
            return shorter
    return None


def same_validations(shorter: Run, run: Run) -> bool:
    """Whether `run` trained from scratch validates at the same steps as `shorter` did, up to
    `shorter`'s end. `fit` validates every eval_every steps and where each stretch of
    training ends (each curve point); a validation more or less could change the best
    weights, so only then is starting from `shorter` exact."""
    every = run.arm.settings["train"].get("eval_every", 1)

    def off_cadence(points: list[int]) -> set[int]:
        return {p for p in points if p <= shorter.steps and p % every}

    return (off_cadence(curve_points(shorter.steps, run.exp.points))
            == off_cadence(curve_points(run.steps, run.exp.points)))


def extend_shorter(run: Run) -> bool:
    """Start `run` from a shorter finished run instead of from scratch when there is one
    (`shorter_run`): its checkpoint (training resumes from it exactly, as after an
    interruption) and the points of its curve that `run` also judges. A declaration's budget
    raised from 4,000 to 8,000 steps trains 4,000 more steps, not 8,000. False when there is
    no shorter run."""
    import shutil

    shorter = shorter_run(run)
    if shorter is None:
        return False
    record = read_json(shorter.record_path)
    wanted = set(curve_points(run.steps, run.exp.points))
    points = [p for p in record["curve"]["points"] if p["step"] in wanted]
    shutil.copyfile(shorter.checkpoint, run.checkpoint)
    write_json(run.path(".points.json"), {"points": points, "eval_seconds": record[
        "eval_seconds"], "extended_from": shorter.key})
    return True


def _train(run: Run, data_for: DataCache, device, on_progress) -> dict:
    from s2s.checkpoints import load_checkpoint, load_history
    from s2s.models import build_model
    from s2s.runtime import seed_everything
    from s2s.train import fit

    data = data_for(run.arm.settings["data"])
    config = model_config(run.arm, data)
    partial_path = run.path(".points.json")
    partial = read_json(partial_path) if partial_path.exists() else {"points": [],
                                                                     "eval_seconds": 0.0}
    judged = {}
    for target in curve_points(run.steps, run.exp.points):
        if any(p["step"] == target for p in partial["points"]):
            continue
        on_progress(f"step {target:,}/{run.steps:,}")
        trained = load_history(run.checkpoint).steps if run.checkpoint.exists() else 0
        if trained < target:
            if not run.checkpoint.exists():  # a fresh start: these seeds decide everything
                seed_everything(run.seed)
            model = build_model(config, data.src_vocab, data.tgt_vocab)
            history = fit(model, data, train_config(run.arm, run.seed, target), device=device,
                          checkpoint=run.checkpoint, resume=run.checkpoint.exists(),
                          progress=False)
            if history.steps < target:  # nothing in an experiment's settings should stop it
                raise RuntimeError(f"{run.exp.name}: {run.arm.name} seed {run.seed} stopped at "
                                   f"step {history.steps} of {target} ({history.stopped})")
        else:  # trained up to here, then interrupted before judging: judge the checkpoint
            model = load_checkpoint(run.checkpoint, config=config, src_vocab=data.src_vocab,
                                    tgt_vocab=data.tgt_vocab, device=device)
        start = time.perf_counter()
        scores, judged = judge_valid(model, data, run.exp.sentences, run.arm.settings["search"])
        partial["eval_seconds"] += time.perf_counter() - start
        partial["points"].append({"step": target, **scores})
        partial["last"] = judged
        write_json(partial_path, partial)
    judged = judged or partial["last"]
    history = load_history(run.checkpoint)
    last = partial["points"][-1]
    record = {
        "arm": run.arm.name, "seed": run.seed, "key": run.key, "steps": history.steps,
        "device": str(device), "precision": history.precision,
        "settings": run.arm.settings,
        "train_seconds": history.seconds, "eval_seconds": partial["eval_seconds"],
        **({"extended_from": partial["extended_from"]} if "extended_from" in partial else {}),
        "target_tokens": history.target_tokens,
        "curve": {"val_steps": history.val_steps, "val_loss": history.val_loss,
                  "points": partial["points"]},
        "final": {"bleu": last["bleu"], "chrf": last["chrf"],
                  "length_ratio": last["length_ratio"], "best_val_loss": history.best_val},
        "valid": {"sources": judged["sources"], "references": judged["references"]},
        "hypotheses": judged["hypotheses"],
    }
    write_json(run.record_path, record)
    return record


def _decode(run: Run, data_for: DataCache, device, on_progress) -> dict:
    from s2s.checkpoints import load_checkpoint

    source = execute(run.source, data_for, device, on_progress=on_progress)
    data = data_for(run.source.arm.settings["data"])
    model = load_checkpoint(run.source.checkpoint, device=device)
    on_progress("decoding")
    start = time.perf_counter()
    scores, judged = judge_valid(model, data, run.exp.sentences, run.arm.settings["search"])
    record = {
        "arm": run.arm.name, "seed": run.seed, "key": run.key, "steps": source["steps"],
        "device": str(device), "settings": run.arm.settings,
        "source": {"experiment": run.source.exp.name, "arm": run.source.arm.name,
                   "key": run.source.key},
        "eval_seconds": time.perf_counter() - start,
        "final": scores,
        "valid": {"sources": judged["sources"], "references": judged["references"]},
        "hypotheses": judged["hypotheses"],
    }
    write_json(run.record_path, record)
    return record
