"""Luong's decoder with the `general` vs the `additive` (concat) score, same time budget.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/attention_scores.py [--minutes 2 | --steps 600]
       [--scores general,additive] [--lr 3e-3] [--input-feeding]

Trains each variant at the `cpu` profile's sizes (bidirectional GRU encoder, Luong decoder
without input feeding) for the same wall-clock budget (or the same number of steps, which does
not depend on how busy the machine is), then reports BLEU on the **valid** split (greedy, up
to 2000 sentences) and the mean entropy of the attention rows on 64 valid sentences: near 0
means attention has collapsed onto single source positions. It chooses a setting (chapter 4
uses its answer), so it never looks at the test split. Prints one JSON object.

`--scores` picks the variants (any of s2s.attention.SCORES), `--lr` the learning rate (default:
the profile's), `--input-feeding` Luong's input feeding: the settings in which the `general`
score's collapse can be examined."""

from __future__ import annotations

import argparse
import json

import torch

import s2s
from s2s.attention import SCORES
from s2s.data import load_translation
from s2s.decoding import greedy
from s2s.metrics import judge
from s2s.models import build_model
from s2s.train import fit
from s2s.zoo import profile_config, profile_train_config


def mean_entropy(weights: list[torch.Tensor]) -> float:
    rows = [-(torch.where(w > 0, w.log(), torch.zeros_like(w)) * w).sum(-1).mean()
            for w in weights]
    return float(sum(rows) / len(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=None, help="default: 2")
    budget.add_argument("--steps", type=int, default=None)
    parser.add_argument("--scores", default="general,additive",
                        help=f"comma-separated scores, of {', '.join(SCORES)}")
    parser.add_argument("--lr", type=float, default=None, help="default: the profile's")
    parser.add_argument("--input-feeding", action="store_true")
    args = parser.parse_args()
    scores = [x.strip() for x in args.scores.split(",") if x.strip()]
    if not scores or any(x not in SCORES for x in scores):
        parser.error(f"--scores: name one or more of {', '.join(SCORES)}, got {args.scores!r}")
    if args.lr is not None and not args.lr > 0:
        parser.error(f"--lr must be > 0, got {args.lr}")
    if args.steps is None and args.minutes is None:
        args.minutes = 2.0
    if (args.steps is not None and args.steps < 1) or (args.minutes is not None
                                                       and args.minutes <= 0):
        parser.error("--steps must be >= 1 and --minutes > 0")
    profile = s2s.get_profile("cpu")
    data = load_translation("fra-eng", max_len=profile.max_len, min_freq=profile.min_freq,
                            verbose=False)
    configs = {}  # built before any training, so that a score that cannot work fails first
    for score in scores:
        configs[score] = profile_config("luong", profile, data, bidirectional=True,
                                        attention=score, input_feeding=args.input_feeding)
        build_model(configs[score], data.src_vocab, data.tgt_vocab)
    results = {}
    for score, config in configs.items():
        s2s.seed_everything(0)
        model = build_model(config, data.src_vocab, data.tgt_vocab)
        cfg = profile_train_config(profile, max_minutes=args.minutes, max_steps=args.steps,
                                   lr=args.lr or profile.lr)
        history = fit(model, data, cfg, progress=False)
        bleu = judge(model, data, split="valid", max_sentences=2000).bleu.score
        src, src_len, _, _ = next(iter(data.loader("valid", 64)))
        _, weights = greedy(model, src, src_len, 2 * profile.max_len, return_attention=True)
        results[score] = {"steps": history.steps, "minutes": round(history.seconds / 60, 2),
                          "val_loss": round(history.val_loss[-1], 3),
                          "bleu": round(bleu, 2),
                          "attention_entropy": round(mean_entropy(weights), 3)}
    print(json.dumps({"benchmark": "attention_scores", "split": "valid",
                      "minutes": args.minutes, "steps": args.steps,
                      "lr": args.lr or profile.lr, "input_feeding": args.input_feeding,
                      **results,
                      "cpus": torch.get_num_threads()}, indent=1))


if __name__ == "__main__":
    main()
