"""How long building the full fra-eng dataset takes: read, parse, tokenise, split, vocabularies.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/build_dataset.py [--repeat 3]
Prints one JSON object; the acceptance figure is `seconds_min` (target: <= 10 s on 2 cores)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from s2s.data import load_translation, padding_efficiency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    seconds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        data = load_translation("fra-eng", verbose=False)
        seconds.append(time.perf_counter() - start)

    bucketed = padding_efficiency(data.loader("train", args.batch_size, bucket=True))
    plain = padding_efficiency(data.loader("train", args.batch_size, bucket=False))
    print(json.dumps({
        "benchmark": "build_dataset",
        "release": data.release.name,
        "pairs": data.report.pairs,
        "train_valid_test_pairs": [len(data.splits.train), len(data.splits.valid),
                                   len(data.splits.test)],
        "vocab_src_tgt": [len(data.src_vocab), len(data.tgt_vocab)],
        "seconds_min": round(min(seconds), 3),
        "seconds_median": round(statistics.median(seconds), 3),
        "repeat": args.repeat,
        "real_token_fraction_bucketed": {k: round(v, 4) for k, v in bucketed.items()},
        "real_token_fraction_unbucketed": {k: round(v, 4) for k, v in plain.items()},
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }, indent=1))


if __name__ == "__main__":
    main()
