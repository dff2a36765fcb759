"""Training throughput, in target tokens per second, at one profile's sizes.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/train_throughput.py [--profile cpu]
Prints one JSON object, so later changes can be compared run against run.

Every figure is measured in each precision of `--precisions` (default: fp32 and auto, which
`s2s.precision` resolves for this machine, e.g. bf16 on a CPU with native bf16), and
`auto_over_fp32` gives the ratios. Quality at equal steps: Luong (the whole model) trained
`--quality-steps` steps from the same seed on the same batches in each precision, then its
validation loss (always computed in fp32) — `quality_at_equal_steps.auto_vs_fp32` is the
relative difference, and `within_1_percent` says whether it is at most 1 %.

Configuration: fra-eng at the profile's `max_len`, `min_freq`, embed, hidden, layers and batch
(the `cpu` profile: sentences <= 12 tokens, a 7,526-word target vocabulary, embed 256, hidden
256, 1 layer, batch 128), Adam and gradient clipping: the training step of `s2s.train.fit`.

Models: the GRU and LSTM encoder-decoders of chapter 3, and chapter 4's attention models with a
bidirectional GRU encoder and the additive score: Bahdanau (its decoder runs step by step) and
Luong without input feeding (its decoder runs in parallel over time); and a Transformer of the
profile's width and depth (embeddings as wide, 4 heads, feed-forward 4x, pre-norm), whose
encoder and decoder run in parallel over all positions.
* `whole_model`: a full training step (encoder + decoder + output layer + optimizer).
* `decoder_only`: the same step for the decoder alone, on encoder outputs computed beforehand
  (gradients still flow into them): the step-loop vs parallel comparison without the
  encoder, which the two models share.
* `output_layer_only`: the output layer (hidden -> vocabulary) alone, the part of the decoder
  that costs the same in both.
Every figure is the median of `--repeat` rounds; within a round the models take turns, so a
slow moment of the machine does not fall on one model only.
Also measured: the encoder alone, packed (what `RNNEncoder` does, so final states are the
last real token's) against running the RNN over the padded batch (faster or not, it gives
wrong final states for padded sentences)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

import s2s
from s2s.data import load_translation
from s2s.models import build_model
from s2s.precision import autocast, check_precision, grad_scaler, resolve_precision
from s2s.train import TrainConfig, evaluate_loss, fit, make_optimizer, sequence_loss, train_step
from s2s.vocab import PAD
from s2s.zoo import profile_config


def batches(data, batch_size: int, count: int, seed: int = 0) -> list:
    loader = data.loader("train", batch_size, seed=seed)
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == count:
            break
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _tokens_per_second(step, count: int, warmup: int, device: torch.device) -> float:
    """Run `step(i)` (returning its target tokens) for i < count; time all but the warmup."""
    for i in range(warmup):
        step(i)
    _sync(device)
    start, tokens = time.perf_counter(), 0
    for i in range(warmup, count):
        tokens += step(i)
    _sync(device)
    return tokens / (time.perf_counter() - start)


def time_training(model, batch_list, device, precision: str, decoder_only: bool = False,
                  warmup: int = 3) -> float:
    """Target tokens per second over `batch_list[warmup:]`, for the whole model (through
    `s2s.train.train_step`, the step `fit` takes) or the decoder alone (encoder outputs
    computed before the clock starts; the same step written out for the decoder), with the
    forward pass in `precision` (resolved) and the loss in fp32."""
    params = model.decoder.parameters() if decoder_only else model.parameters()
    optimizer = make_optimizer(params, 1e-3, device)  # fused Adam, as in `fit`
    scaler = grad_scaler(precision, device)
    model.train()
    encoded = []
    if decoder_only:
        with torch.no_grad():
            encoded = [model.encoder(src.to(device), src_len) for src, src_len, _, _ in batch_list]

    cfg = TrainConfig(lr=1e-3, clip=1.0, precision=precision)

    def step(i: int) -> int:
        src, src_len, tgt_in, tgt_out = batch_list[i]
        if not decoder_only:  # the whole model: fit's own step
            train_step(model, batch_list[i], optimizer, cfg, device=device, precision=precision,
                       scaler=scaler)
            return int((tgt_out != PAD).sum())
        tgt_in, tgt_out = tgt_in.to(device), tgt_out.to(device)
        with autocast(precision, device):
            memory, hidden = (t.clone().requires_grad_() for t in encoded[i])
            logits, _ = model.decoder(tgt_in, model.decoder.init_state((memory, hidden), src_len))
        loss = sequence_loss(logits.float(), tgt_out)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        return int((tgt_out != PAD).sum())

    return _tokens_per_second(step, len(batch_list), warmup, device)


def time_output_layer(decoder, batch_list, device, precision: str, warmup: int = 3) -> float:
    """Target tokens per second through the output layer alone (hidden -> vocabulary, forward,
    backward, Adam), on random hidden vectors of the batches' shapes: the cost that both
    attention decoders share."""
    out = decoder.out
    optimizer = make_optimizer(out.parameters(), 1e-3, device)
    scaler = grad_scaler(precision, device)
    hidden = [torch.randn(*tgt_out.shape, out.in_features, device=device)
              for _, _, _, tgt_out in batch_list]

    def step(i: int) -> int:
        tgt_out = batch_list[i][3].to(device)
        with autocast(precision, device):
            logits = out(hidden[i].requires_grad_())
        loss = sequence_loss(logits.float(), tgt_out)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return int((tgt_out != PAD).sum())

    return _tokens_per_second(step, len(batch_list), warmup, device)


def time_encoder(encoder, batch_list, packed: bool, device, precision: str) -> float:
    """Encoder forward + backward, sentences per second."""
    start, sentences = time.perf_counter(), 0
    for src, src_len, _, _ in batch_list:
        src = src.to(device)
        with autocast(precision, device):
            if packed:
                outputs, _ = encoder(src, src_len)
            else:
                outputs, _ = encoder.rnn(encoder.embedding(src))
        outputs.float().sum().backward()
        sentences += src.shape[0]
    _sync(device)
    return sentences / (time.perf_counter() - start)


def quality_at_equal_steps(config, data, profile, device, precision: str, steps: int) -> dict:
    """Train `config` for `steps` steps with `fit` (seed 0: the same initial weights and
    batches in every precision), then its validation loss in fp32 and the seconds it took."""
    torch.manual_seed(0)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    cfg = TrainConfig(lr=profile.lr, batch_size=profile.batch_size, max_steps=steps,
                      eval_every=steps, patience=None, precision=precision)
    history = fit(model, data, cfg, device=device, progress=False)
    valid = evaluate_loss(model, data.loader("valid", 2 * profile.batch_size), device)
    return {"steps": history.steps, "valid_loss": round(valid, 4),
            "seconds": round(history.seconds, 1), "precision": history.precision}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default=None, help="ci, cpu or gpu (default: by hardware)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model and round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: by hardware)")
    parser.add_argument("--precisions", default="fp32,auto",
                        help="comma-separated precisions to measure (fp32, bf16, fp16, auto)")
    parser.add_argument("--quality-steps", type=int, default=300,
                        help="training steps of the equal-steps quality check (0: skip it)")
    args = parser.parse_args()
    profile = s2s.get_profile(args.profile)
    device = torch.device(args.device) if args.device else s2s.get_device()
    torch.manual_seed(0)

    data = load_translation("fra-eng", max_len=profile.max_len, min_freq=profile.min_freq,
                            max_pairs=profile.max_pairs, verbose=False)
    batch_list = batches(data, profile.batch_size, args.steps + 3)
    configs = {
        "gru": profile_config("rnn", profile, data),
        "lstm": profile_config("rnn", profile, data, cell="lstm"),
        "bahdanau": profile_config("bahdanau", profile, data, bidirectional=True,
                                   attention="additive"),
        "luong": profile_config("luong", profile, data, bidirectional=True,
                                attention="additive"),
        "transformer": profile_config("transformer", profile, data,
                                      embed_size=profile.hidden_size, num_heads=4,
                                      norm_first=True),
    }
    models = {name: build_model(c, data.src_vocab, data.tgt_vocab).to(device)
              for name, c in configs.items()}
    arms = [(name, False) for name in models] + [("bahdanau", True), ("luong", True)]
    # `auto` is measured under its own name (the rule's choice is printed as `precisions`).
    names = [check_precision(p.strip(), "--precisions")
             for p in args.precisions.split(",") if p.strip()]
    if not names:
        parser.error("--precisions: name at least one of fp32, bf16, fp16, auto")
    resolved = {p: resolve_precision(p, device) for p in names}
    runs: dict[tuple[str, str, bool], list[float]] = {
        (p, *arm): [] for p in names for arm in arms}
    encoder_runs: dict[tuple[str, str, str], list[float]] = {
        (p, cell, kind): [] for p in names for cell in ("gru", "lstm")
        for kind in ("packed", "padded_unpacked")}
    output_runs: dict[str, list[float]] = {p: [] for p in names}
    for _ in range(args.repeat):
        for p in names:  # precisions take turns too, within each round
            for name, decoder_only in arms:
                runs[p, name, decoder_only].append(time_training(
                    models[name], batch_list, device, resolved[p], decoder_only))
            output_runs[p].append(time_output_layer(models["luong"].decoder, batch_list,
                                                    device, resolved[p]))
            for _, cell, kind in [key for key in encoder_runs if key[0] == p]:
                encoder_runs[p, cell, kind].append(time_encoder(
                    models[cell].encoder, batch_list, kind == "packed", device, resolved[p]))

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    whole = {p: {name: median(runs[p, name, False]) for name in models} for p in names}
    decoder = {p: {name: median(runs[p, name, True]) for name in ("bahdanau", "luong")}
               for p in names}
    output = {p: median(output_runs[p]) for p in names}
    ratios = {}
    if "fp32" in names and "auto" in names:
        ratios = {"whole_model": {name: round(whole["auto"][name] / whole["fp32"][name], 2)
                                  for name in models},
                  "decoder_only": {name: round(decoder["auto"][name] / decoder["fp32"][name], 2)
                                   for name in decoder["fp32"]},
                  "output_layer_only": round(output["auto"] / output["fp32"], 2)}
    quality = {}
    if args.quality_steps > 0:
        quality = {p: quality_at_equal_steps(configs["luong"], data, profile, device, p,
                                             args.quality_steps) for p in names}
        if "fp32" in quality and "auto" in quality:
            quality["auto_vs_fp32"] = round(
                quality["auto"]["valid_loss"] / quality["fp32"]["valid_loss"] - 1, 4)
            quality["within_1_percent"] = abs(quality["auto_vs_fp32"]) <= 0.01
    print(json.dumps({
        "benchmark": "train_throughput",
        "profile": profile.name,
        "precisions": resolved,
        "config": {"embed": profile.embed_size, "hidden": profile.hidden_size,
                   "layers": profile.num_layers, "batch": profile.batch_size,
                   "max_len": profile.max_len, "src_vocab": len(data.src_vocab),
                   "tgt_vocab": len(data.tgt_vocab), "timed_steps": args.steps,
                   "repeat": args.repeat},
        "whole_model_target_tok_per_s": whole,
        "decoder_only_target_tok_per_s": decoder,
        "output_layer_only_target_tok_per_s": output,
        "auto_over_fp32": ratios,
        "luong_over_bahdanau": {p: {
            "whole_model": round(whole[p]["luong"] / whole[p]["bahdanau"], 2),
            "decoder_only": round(decoder[p]["luong"] / decoder[p]["bahdanau"], 2)}
            for p in names},
        "encoder_sent_per_s": {p: {cell: {kind: median(encoder_runs[p, cell, kind])
                                          for kind in ("packed", "padded_unpacked")}
                                   for cell in ("gru", "lstm")} for p in names},
        "quality_at_equal_steps": quality,
        "device": str(device),
        "device_name": (torch.cuda.get_device_name() if device.type == "cuda"
                        else platform.processor()),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
