"""Decoding speed: per-sentence vs batched beam search, and greedy, in one run.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/decode_throughput.py [--profile cpu]

Model (`--model`): chapter 4's attention model at the profile's size (`luong`, the default:
`s2s.zoo.attention_model`; loaded from the cache when chapter 4 has run with the same code,
otherwise trained first, which takes the profile's `attention_minutes`), or a Transformer of
the profile's width and depth trained the same way (`transformer`: `s2s.zoo.transformer_model`,
its decoder stepping on cached keys and values). Data: the first 64 held-out sources of the
valid split (a benchmark never touches test). Beam 5, n-best 1, no length penalty. Prints one
JSON object with sentences per second for each method and the batched / per-sentence ratio.

Every method runs in each precision of `--precisions` (default fp32 and auto, which
`s2s.precision` resolves for this machine): the model's weights stay fp32 and decoding runs
under `torch.autocast`. `auto_vs_fp32` says how often the 16-bit run gives exactly fp32's
output: the greedy output and the whole n-best list of batched beam search (`--n-best`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time

import torch

import s2s
from s2s.data import load_translation, source_batch
from s2s.decoding import batched_beam_search, beam_search, greedy
from s2s.precision import autocast, check_precision, resolve_precision
from s2s.zoo import attention_model, transformer_model


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
    parser.add_argument("--model", choices=("luong", "transformer"), default="luong",
                        help="the model decoded (default: chapter 4's attention model)")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n-best", type=int, default=None,
                        help="length of the n-best lists compared (default: the beam size)")
    parser.add_argument("--precisions", default="fp32,auto",
                        help="comma-separated precisions to measure (fp32, bf16, fp16, auto)")
    args = parser.parse_args()
    profile = s2s.get_profile(args.profile)
    device = s2s.get_device()
    args.n_best = args.beam if args.n_best is None else args.n_best
    if not 1 <= args.n_best <= args.beam:
        parser.error(f"--n-best must be between 1 and --beam ({args.beam}), got {args.n_best}")
    names = [check_precision(p.strip(), "--precisions")
             for p in args.precisions.split(",") if p.strip()]
    if not names:
        parser.error("--precisions: name at least one of fp32, bf16, fp16, auto")

    data = load_translation("fra-eng", max_len=profile.max_len, max_pairs=profile.max_pairs,
                            min_freq=profile.min_freq, verbose=False)
    train = attention_model if args.model == "luong" else transformer_model
    with contextlib.redirect_stdout(sys.stderr):  # stdout holds the JSON object alone
        model, _ = train(profile, data, device)
    model.eval()
    sources = [s for s, _ in data.references("valid")[: args.sentences]]
    src, src_len = source_batch(model.src_vocab, sources, device)
    max_len = 2 * profile.max_len + 10

    def per_sentence():
        return [beam_search(model, src[b:b + 1, :src_len[b]], src_len[b:b + 1], args.beam,
                            max_len) for b in range(len(sources))]

    def batched():
        return batched_beam_search(model, src, src_len, args.beam, max_len)

    def n_best():
        return batched_beam_search(model, src, src_len, args.beam, max_len, n_best=args.n_best)

    methods = {"greedy": lambda: greedy(model, src, src_len, max_len),
               "beam_per_sentence": per_sentence, "beam_batched": batched}
    resolved = {p: resolve_precision(p, device) for p in names}
    rate: dict[str, dict[str, float]] = {}
    outputs: dict[str, dict[str, object]] = {}
    for p in names:
        rate[p], outputs[p] = {}, {}
        for name, fn in methods.items():
            with torch.no_grad(), autocast(resolved[p], device):
                fn()  # warm-up
                runs = [timed(fn, device) for _ in range(args.repeat)]
                if name == "beam_batched":  # the n-best lists, compared across precisions
                    outputs[p]["n_best"] = n_best()
            rate[p][name] = round(len(sources) / min(t for t, _ in runs), 2)
            outputs[p][name] = runs[0][1]
    same = {p: all(a[0].value == b[0].value for a, b in zip(
        outputs[p]["beam_per_sentence"], outputs[p]["beam_batched"], strict=True))
        for p in names}
    agreement = {}
    if "fp32" in names and "auto" in names:
        def share(key: str, as_values) -> float:
            pairs = list(zip(outputs["fp32"][key], outputs["auto"][key], strict=True))
            return round(sum(as_values(a) == as_values(b) for a, b in pairs) / len(pairs), 4)

        agreement = {
            "greedy_identical": share("greedy", lambda out: out),
            "n_best_values_identical": share("n_best", lambda hyps: [h.value for h in hyps]),
            "speed_ratio": {name: round(rate["auto"][name] / rate["fp32"][name], 2)
                            for name in methods}}
    print(json.dumps({
        "benchmark": "decode_throughput",
        "profile": profile.name,
        "model": {"kind": model.config.kind, "hidden": model.config.hidden_size,
                  "layers": model.config.num_layers, "tgt_vocab": model.config.tgt_vocab_size},
        "sentences": len(sources), "beam": args.beam, "n_best": args.n_best,
        "repeat": args.repeat, "precisions": resolved,
        "sentences_per_s": rate,
        "batched_over_per_sentence": {p: round(rate[p]["beam_batched"]
                                               / rate[p]["beam_per_sentence"], 2)
                                      for p in names},
        "batched_equals_per_sentence": same,
        "auto_vs_fp32": agreement,
        "device": str(device),
        "device_name": (torch.cuda.get_device_name() if device.type == "cuda"
                        else platform.processor()),
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
