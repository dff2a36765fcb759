"""Time to quality: training seconds until a model reaches a valid BLEU, what a learner feels.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/time_to_quality.py [--model nmt|luong]
           [--seeds 0 1 2] [--target 18] [--sentences 300] [--check-every 150]
Prints one JSON object: per seed, whether and when the target was reached (training steps and
seconds, validation's share of them), the target tokens per second, the BLEU curve; over the
seeds, the median seconds to the target.

Models (the `cpu` profile's data: fra-eng, sentences of at most 12 words, words seen 5 times):
* `nmt`: chapter 7's `cpu` configuration, `configs/nmt-cpu.toml` (CS224n's design with the
  additive score; 6 minutes, the learning rate falling to 0 over the last 40 %) — or any
  config with `--config`;
* `luong`: chapter 4's Luong model as `s2s.zoo.attention_model` trains it at the `cpu`
  profile (the profile's `attention_minutes`, the same decay).

Each seed trains with `s2s.train.fit`, exactly as the chapter or `python -m s2s train` does
(its validation every `eval_every` steps and its checkpoints included, written to a temporary
folder), from that seed. Every `--check-every` steps a rule (`fit(until=...)`) translates the
first `--sentences` distinct sources of the **valid** split greedily and scores them with
sacrebleu; the run stops at the first check that reaches `--target`. The checks' own time is
not training time: `seconds` is what the run would have taken without them. A run that ends
its budget first reports `reached: false` and its best check.

`--set train.lr=0.005` (repeatable) changes one training setting, to measure a change against
the same command without it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

import torch

import s2s
from s2s.cli import config_model, load_data, read_config
from s2s.data import load_translation
from s2s.metrics import judge
from s2s.models import build_model
from s2s.train import TrainConfig, fit
from s2s.zoo import profile_config, profile_train_config

ROOT = Path(__file__).resolve().parents[1]
NMT_CONFIG = ROOT / "configs" / "nmt-cpu.toml"


def nmt_setup(config_path: Path) -> tuple:
    """(data, model config, training config) of a `python -m s2s train` config file."""
    config = read_config(config_path)
    data = load_data(config, config_path, verbose=False)
    return data, config_model(config, config_path, data), TrainConfig(**config["train"])


def luong_setup() -> tuple:
    """(data, model config, training config) of chapter 4's Luong model at the `cpu` profile,
    as `s2s.zoo.attention_model` builds them."""
    profile = s2s.get_profile("cpu")
    data = load_translation("fra-eng", max_len=profile.max_len, min_freq=profile.min_freq,
                            max_pairs=profile.max_pairs, verbose=False)
    config = profile_config("luong", profile, data, bidirectional=True, attention="additive")
    cfg = profile_train_config(profile, max_minutes=profile.attention_minutes, patience=3,
                               lr_decay=0.4)
    return data, config, cfg


def with_settings(cfg: TrainConfig, settings: list[str]) -> TrainConfig:
    """`cfg` with each "train.NAME=VALUE" of `settings` applied (VALUE read as TOML)."""
    for setting in settings:
        name, _, value = setting.partition("=")
        table, _, field = name.partition(".")
        if table != "train" or not value:
            raise SystemExit(f"--set {setting!r}: write train.NAME=VALUE, e.g. train.lr=0.005")
        if not hasattr(cfg, field):
            raise SystemExit(f"--set {setting!r}: TrainConfig has no setting {field!r}")
        setattr(cfg, field, tomllib.loads(f"v = {value}")["v"])
    return cfg


def bleu_rule(data, target: float, sentences: int, every: int, curve: list[dict]):
    """The `fit(until=...)` rule: every `every` steps, greedy BLEU on the first `sentences`
    distinct valid sources, appended to `curve`; stop once it reaches `target`."""

    def rule(model, history) -> str:
        if history.steps % every:
            return ""
        started = time.perf_counter()
        bleu = judge(model, data, split="valid", max_sentences=sentences).bleu.score
        curve.append({"step": history.steps, "seconds": round(history.seconds, 1),
                      "validation_seconds": round(history.validation_seconds, 1),
                      "bleu": round(bleu, 2),
                      "check_seconds": round(time.perf_counter() - started, 1)})
        return f"valid BLEU {bleu:.2f} >= {target}" if bleu >= target else ""

    return rule


def run_seed(setup: tuple, seed: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Train one seed until the target; what it took."""
    data, config, cfg = setup
    cfg = with_settings(TrainConfig(**{**vars(cfg), "seed": seed}), args.set)
    s2s.seed_everything(seed)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    curve: list[dict] = []
    rule = bleu_rule(data, args.target, args.sentences, args.check_every, curve)
    with tempfile.TemporaryDirectory() as folder:
        history = fit(model, data, cfg, device=device, checkpoint=Path(folder) / "run.pt",
                      progress=False, until=rule)
    reached = next((point for point in curve if point["bleu"] >= args.target), None)
    best = max(curve, key=lambda point: point["bleu"], default=None)
    return {"seed": seed, "reached": reached is not None,
            "steps": reached["step"] if reached else history.steps,
            "seconds": reached["seconds"] if reached else round(history.seconds, 1),
            "validation_seconds": (reached["validation_seconds"] if reached
                                   else round(history.validation_seconds, 1)),
            "tokens_per_second": round(history.tokens_per_second),
            "precision": history.precision, "stopped": history.stopped,
            "best_check": best, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("nmt", "luong"), default="nmt")
    parser.add_argument("--config", type=Path, default=NMT_CONFIG,
                        help="the config file of --model nmt (default: configs/nmt-cpu.toml)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=18.0, help="valid BLEU to reach")
    parser.add_argument("--sentences", type=int, default=300,
                        help="distinct valid sources the checks translate")
    parser.add_argument("--check-every", type=int, default=150, help="steps between checks")
    parser.add_argument("--set", action="append", default=[], metavar="train.NAME=VALUE",
                        help="change one training setting (repeatable)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: by hardware)")
    args = parser.parse_args()
    for name in ("sentences", "check_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    device = torch.device(args.device) if args.device else s2s.get_device()
    setup = nmt_setup(args.config) if args.model == "nmt" else luong_setup()
    runs = [run_seed(setup, seed, args, device) for seed in args.seeds]
    reached = [run["seconds"] for run in runs if run["reached"]]
    print(json.dumps({
        "model": args.model, "config": str(args.config) if args.model == "nmt" else "zoo",
        "target_bleu": args.target, "sentences": args.sentences,
        "check_every": args.check_every, "settings": args.set,
        "median_seconds": statistics.median(reached) if len(reached) == len(runs) else None,
        "reached": f"{len(reached)}/{len(runs)}", "runs": runs,
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "device": str(device)},
        "date": time.strftime("%Y-%m-%d"),
    }, indent=1))


if __name__ == "__main__":
    main()
