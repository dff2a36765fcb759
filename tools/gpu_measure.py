"""The GPU check's measurements through the library (tools/gpu_check.py runs each in a process
of its own, under its time limit). Each writes its results to `--result` after every
measurement, so what it finished survives a failure, a kill or an out-of-memory error.

    python tools/gpu_measure.py nmt --profile P --design JSON --result FILE
        chapter 7's English->French (greedy, beam 5) and English->Chinese (beam 5) systems and
        chapter 4's final model (greedy, beam 5): test BLEU and chrF, built as the chapters
        build them (s2s.zoo.cached_model, the same keys) and judged by s2s.metrics.judge
    python tools/gpu_measure.py batches --profile P --precisions fp32,bf16 [--steps N]
                                        [--repeat N] --result FILE
        target tokens/s of the whole training step at the profile's batch and at 4 times it
    torchrun --standalone --nproc_per_node 1 tools/gpu_measure.py join --result FILE
        s2s.distributed.join (NCCL with CUDA, gloo otherwise) and one all_reduce

Exit status 0 when every measurement succeeded, 1 when one failed (it is in the result)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path


def write_json(path: Path, data: dict) -> None:
    """Replace `path` whole (never a half-written report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)


def keep_going(results: dict, result: Path, name: str, measure: Callable[[], dict]) -> None:
    """results[name] = what `measure` returns, or the error it raised; either way `result` is
    rewritten, and the next measurement runs."""
    start = time.perf_counter()
    try:
        results[name] = {"ok": True, **measure()}
    except Exception as err:  # recorded in the report: one failure must not lose the others
        results[name] = {"ok": False, "error": f"{type(err).__name__}: {err}"[:1000],
                         "traceback": traceback.format_exc()[-3000:]}
    results[name]["seconds"] = round(time.perf_counter() - start, 1)
    write_json(result, results)


def trained(load: Callable[[], tuple]) -> tuple[object, dict]:
    """A chapter's cached model (`load` calls s2s.zoo) and how it was trained; whether it came
    from the cache is read from what `cached_model` prints."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model, history = load()
    return model, {"cache": "loaded" if "from the cache" in printed.getvalue() else "trained",
                   "steps": history.steps, "train_seconds": round(history.seconds, 1),
                   "precision": history.precision, "best_val_loss": round(history.best_val, 4),
                   "stopped": history.stopped,
                   "target_tok_per_s": round(history.tokens_per_second, 1)}


def judged(model, data, profile, **search) -> dict:
    """Test BLEU and chrF of a chapter's final model, on the sentences the chapter judges."""
    from s2s.metrics import judge

    start = time.perf_counter()
    scores = judge(model, data, split="test", max_sentences=profile.eval_sentences, **search)
    return {"bleu": round(scores.bleu.score, 2), "chrf": round(scores.chrf().score, 2),
            "sentences": len(scores.hypotheses), "bleu_signature": scores.bleu.signature,
            "seconds": round(time.perf_counter() - start, 1)}


def measure_nmt(profile_name: str, design: dict | None, result: Path) -> dict:
    """Chapter 7's two systems and chapter 4's final model, built and judged as the chapters
    build and judge them (s2s.zoo's cached models, the same keys)."""
    import s2s
    from s2s.data import load_translation
    from s2s.zoo import attention_model, cached_model, profile_config, profile_train_config

    profile, device = s2s.get_profile(profile_name), s2s.get_device()
    loaded: dict[str, object] = {}

    def data(name: str, max_len: int):
        if name not in loaded:
            loaded[name] = load_translation(name, max_len=max_len, max_pairs=profile.max_pairs,
                                            min_freq=profile.min_freq, verbose=False)
        return loaded[name]

    def system(name: str, corpus, minutes: float, **changes):
        if design is None:
            raise ValueError("no design for chapter 7's system (see design_source)")
        config = profile_config("nmt", profile, corpus, **design, **changes)
        cfg = profile_train_config(profile, max_minutes=minutes, patience=3, lr_decay=0.4)
        return trained(lambda: cached_model(name, config, corpus, cfg, profile=profile.name,
                                            device=device, progress=False))

    def en_fr() -> dict:
        model, training = system("ch07-nmt", data("fra-eng", profile.max_len),
                                 profile.nmt_minutes)
        greedy = judged(model, data("fra-eng", profile.max_len), profile)
        beam = judged(model, data("fra-eng", profile.max_len), profile, beam_size=5)
        return {"training": training, "greedy": greedy, "beam5": beam,
                "floor_bleu_beam5": profile.expect_bleu_nmt,
                "meets_floor": beam["bleu"] >= profile.expect_bleu_nmt}

    def en_zh() -> dict:
        zh = data("cmn-eng", profile.max_len + 4)
        model, training = system("ch07-nmt-zh", zh, profile.zh_minutes,
                                 max_len=profile.max_len + 4)
        beam = judged(model, zh, profile, beam_size=5)
        return {"training": training, "beam5": beam,
                "floors": {"bleu": profile.expect_bleu_zh, "chrf": profile.expect_chrf_zh},
                "meets_floors": (beam["bleu"] >= profile.expect_bleu_zh
                                 and beam["chrf"] >= profile.expect_chrf_zh)}

    def attention() -> dict:
        fra = data("fra-eng", profile.max_len)
        model, training = trained(lambda: attention_model(profile, fra, device))
        greedy = judged(model, fra, profile)
        return {"training": training, "greedy": greedy,
                "beam5": judged(model, fra, profile, beam_size=5),
                "floor_bleu_greedy": profile.expect_bleu_attention,
                "meets_floor": greedy["bleu"] >= profile.expect_bleu_attention}

    results: dict[str, dict] = {}
    for name, measure in (("ch07_en_fr", en_fr), ("ch07_en_zh", en_zh), ("ch04_attention",
                                                                           attention)):
        keep_going(results, result, name, measure)
    return results


def take(loader, n: int) -> list:
    """The first `n` batches of `loader`, going round it again when an epoch is shorter."""
    out: list = []
    while len(out) < n:
        before = len(out)
        for batch in loader:
            out.append(batch)
            if len(out) == n:
                break
        if len(out) == before:
            raise ValueError("the loader gives no batch")
    return out


def measure_batches(profile_name: str, precisions: str, steps: int | None,
                    repeat: int | None, result: Path) -> dict:
    """Target tokens/s of a whole training step (`s2s.train.train_step`, the step of `fit`)
    for train_throughput.py's four models, at the profile's batch and at 4 times it, in each
    precision: the median of `repeat` rounds of `steps` timed steps after WARMUP."""
    import torch

    import s2s
    from s2s.data import load_translation
    from s2s.models import build_model
    from s2s.precision import grad_scaler
    from s2s.train import TrainConfig, make_optimizer, train_step
    from s2s.vocab import PAD
    from s2s.zoo import profile_config

    warmup, steps, repeat = 3, steps or 20, repeat or 3  # the training benchmark's defaults
    profile, device = s2s.get_profile(profile_name), s2s.get_device()
    data = load_translation("fra-eng", max_len=profile.max_len, min_freq=profile.min_freq,
                            max_pairs=profile.max_pairs, verbose=False)
    configs = {"gru": profile_config("rnn", profile, data),
               "lstm": profile_config("rnn", profile, data, cell="lstm"),
               "bahdanau": profile_config("bahdanau", profile, data, bidirectional=True,
                                          attention="additive"),
               "luong": profile_config("luong", profile, data, bidirectional=True,
                                       attention="additive")}
    torch.manual_seed(0)
    models = {name: build_model(c, data.src_vocab, data.tgt_vocab).to(device)
              for name, c in configs.items()}

    def speed(model, batches: list, precision: str) -> float:
        optimizer = make_optimizer(model.parameters(), profile.lr, device)
        cfg = TrainConfig(lr=profile.lr, clip=1.0, precision=precision)
        scaler, tokens = grad_scaler(precision, device), 0
        for i, batch in enumerate(batches):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            train_step(model, batch, optimizer, cfg, device=device, precision=precision,
                       scaler=scaler)
            tokens += int((batch[3] != PAD).sum()) if i >= warmup else 0
        if device.type == "cuda":
            torch.cuda.synchronize()
        return tokens / (time.perf_counter() - start)

    def measure(precision: str, batch_size: int) -> dict:
        batches = take(data.loader("train", batch_size, seed=0), warmup + steps)
        rounds = defaultdict(list)
        for _ in range(repeat):  # the models take turns within each round
            for name, model in models.items():
                rounds[name].append(speed(model, batches, precision))
        return {"batch": batch_size, "target_tok_per_s": {
            name: round(statistics.median(v), 1) for name, v in rounds.items()}}

    results: dict[str, dict] = {}
    for precision in precisions.split(","):
        for scale in (1, 4):
            keep_going(results, result, f"{precision} {scale}x",
                       lambda p=precision, s=scale: measure(p, s * profile.batch_size))
            if device.type == "cuda":
                torch.cuda.empty_cache()  # after an out-of-memory error too
    return results


def measure_join(result: Path) -> dict:
    """`s2s.distributed.join` under torchrun (NCCL with CUDA, gloo otherwise), one all_reduce,
    and `teardown`."""
    import torch
    import torch.distributed as dist

    from s2s.distributed import join, teardown, world

    def measure() -> dict:
        device = join("cuda" if torch.cuda.is_available() else "cpu")
        total = torch.ones(1, device=device)
        dist.all_reduce(total)
        found = {"backend": dist.get_backend(), "device": str(device),
                 "rank": world().rank, "size": world().size, "all_reduce_sum": total.item()}
        teardown()
        return found

    results: dict[str, dict] = {}
    keep_going(results, result, "join", measure)
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("measurement", choices=("nmt", "batches", "join"))
    parser.add_argument("--result", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--profile", default=None, help="ci, cpu or gpu (nmt, batches)")
    parser.add_argument("--design", default="null",
                        help="chapter 7's design as JSON, e.g. {\"cell\": \"lstm\"} (nmt)")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated (batches)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (batches)")
    parser.add_argument("--repeat", type=int, default=None, help="rounds (batches)")
    args = parser.parse_args(argv)
    measure = {"nmt": lambda: measure_nmt(args.profile, json.loads(args.design), args.result),
               "batches": lambda: measure_batches(args.profile, args.precisions, args.steps,
                                                  args.repeat, args.result),
               "join": lambda: measure_join(args.result)}[args.measurement]
    return 0 if all(r["ok"] for r in measure().values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
