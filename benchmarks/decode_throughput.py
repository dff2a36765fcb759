"""Decoding speed: per-sentence vs batched beam search, and greedy, in one run.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/decode_throughput.py [--profile cpu]

Model: chapter 4's attention model at the profile's size (`s2s.zoo.attention_model`; loaded
from the cache when chapter 4 has run with the same code, otherwise trained first, which takes
the profile's `attention_minutes`). Data: the first 64 held-out sources of the valid split
(a benchmark never touches test). Beam 5, n-best 1, no length penalty. Prints one JSON object
with sentences per second for each method and the batched / per-sentence ratio."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

import s2s
from s2s.data import load_translation, source_batch
from s2s.decoding import batched_beam_search, beam_search, greedy
from s2s.zoo import attention_model


def timed(fn, device: torch.device) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default=None, help="ci, cpu or gpu (default: by hardware)")
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    profile = s2s.get_profile(args.profile)
    device = s2s.get_device()

    data = load_translation("fra-eng", max_len=profile.max_len, max_pairs=profile.max_pairs,
                            min_freq=profile.min_freq, verbose=False)
    model, _ = attention_model(profile, data, device)
    model.eval()
    sources = [s for s, _ in data.references("valid")[: args.sentences]]
    src, src_len = source_batch(model.src_vocab, sources, device)
    max_len = 2 * profile.max_len + 10

    def per_sentence():
        return [beam_search(model, src[b:b + 1, :src_len[b]], src_len[b:b + 1], args.beam,
                            max_len) for b in range(len(sources))]

    def batched():
        return batched_beam_search(model, src, src_len, args.beam, max_len)

    methods = {"greedy": lambda: greedy(model, src, src_len, max_len),
               "beam_per_sentence": per_sentence, "beam_batched": batched}
    seconds: dict[str, float] = {}
    outputs = {}
    for name, fn in methods.items():
        fn()  # warm-up
        runs = [timed(fn, device) for _ in range(args.repeat)]
        seconds[name] = min(t for t, _ in runs)
        outputs[name] = runs[0][1]
    same = all(a[0].value == b[0].value for a, b in zip(outputs["beam_per_sentence"],
                                                         outputs["beam_batched"], strict=True))
    rate = {name: round(len(sources) / s, 2) for name, s in seconds.items()}
    print(json.dumps({
        "benchmark": "decode_throughput",
        "profile": profile.name,
        "model": {"kind": model.config.kind, "hidden": model.config.hidden_size,
                  "layers": model.config.num_layers, "tgt_vocab": model.config.tgt_vocab_size},
        "sentences": len(sources), "beam": args.beam, "repeat": args.repeat,
        "sentences_per_s": rate,
        "batched_over_per_sentence": round(rate["beam_batched"] / rate["beam_per_sentence"], 2),
        "batched_equals_per_sentence": same,
        "device": str(device),
        "device_name": (torch.cuda.get_device_name() if device.type == "cuda"
                        else platform.processor()),
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
