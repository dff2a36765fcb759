"""Training throughput, in target tokens per second, at one profile's sizes.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/train_throughput.py [--profile cpu]
Prints one JSON object, so later changes can be compared run against run.

Configuration: fra-eng at the profile's `max_len`, `min_freq`, embed, hidden, layers and batch
(the `cpu` profile: sentences <= 12 tokens, a 7,526-word target vocabulary, embed 256, hidden
256, 1 layer, batch 128), Adam and gradient clipping: the training step of `s2s.train.fit`.

Models: the GRU and LSTM encoder-decoders of chapter 3, and chapter 4's attention models with a
bidirectional GRU encoder and the additive score: Bahdanau (its decoder runs step by step) and
Luong without input feeding (its decoder runs in parallel over time).
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
from s2s.data import PAD, load_translation
from s2s.models import build_model
from s2s.train import sequence_loss
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


def time_training(model, batch_list, device, decoder_only: bool = False,
                  warmup: int = 3) -> float:
    """Target tokens per second over `batch_list[warmup:]`, for the whole model or the
    decoder alone (encoder outputs computed before the clock starts)."""
    params = model.decoder.parameters() if decoder_only else model.parameters()
    optimizer = torch.optim.Adam(params, lr=1e-3)
    model.train()
    encoded = []
    if decoder_only:
        with torch.no_grad():
            encoded = [model.encoder(src.to(device), src_len) for src, src_len, _, _ in batch_list]

    def step(i: int) -> int:
        src, src_len, tgt_in, tgt_out = batch_list[i]
        tgt_in, tgt_out = tgt_in.to(device), tgt_out.to(device)
        if decoder_only:
            memory, hidden = (t.clone().requires_grad_() for t in encoded[i])
            logits, _ = model.decoder(tgt_in, model.decoder.init_state((memory, hidden), src_len))
        else:
            logits = model(src.to(device), src_len, tgt_in)
        loss = sequence_loss(logits, tgt_out)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return int((tgt_out != PAD).sum())

    return _tokens_per_second(step, len(batch_list), warmup, device)


def time_output_layer(decoder, batch_list, device, warmup: int = 3) -> float:
    """Target tokens per second through the output layer alone (hidden -> vocabulary, forward,
    backward, Adam), on random hidden vectors of the batches' shapes: the cost that both
    attention decoders share."""
    out = decoder.out
    optimizer = torch.optim.Adam(out.parameters(), lr=1e-3)
    hidden = [torch.randn(*tgt_out.shape, out.in_features, device=device)
              for _, _, _, tgt_out in batch_list]

    def step(i: int) -> int:
        tgt_out = batch_list[i][3].to(device)
        loss = sequence_loss(out(hidden[i].requires_grad_()), tgt_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return int((tgt_out != PAD).sum())

    return _tokens_per_second(step, len(batch_list), warmup, device)


def time_encoder(encoder, batch_list, packed: bool, device) -> float:
    """Encoder forward + backward, sentences per second."""
    start, sentences = time.perf_counter(), 0
    for src, src_len, _, _ in batch_list:
        src = src.to(device)
        if packed:
            outputs, _ = encoder(src, src_len)
        else:
            outputs, _ = encoder.rnn(encoder.embedding(src))
        outputs.sum().backward()
        sentences += src.shape[0]
    _sync(device)
    return sentences / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default=None, help="ci, cpu or gpu (default: by hardware)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model and round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: by hardware)")
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
    }
    models = {name: build_model(c, data.src_vocab, data.tgt_vocab).to(device)
              for name, c in configs.items()}
    arms = [(name, False) for name in models] + [("bahdanau", True), ("luong", True)]
    runs: dict[tuple[str, bool], list[float]] = {arm: [] for arm in arms}
    encoder_runs: dict[tuple[str, str], list[float]] = {
        (cell, kind): [] for cell in ("gru", "lstm") for kind in ("packed", "padded_unpacked")}
    output_runs: list[float] = []
    for _ in range(args.repeat):
        for name, decoder_only in arms:
            runs[name, decoder_only].append(
                time_training(models[name], batch_list, device, decoder_only))
        output_runs.append(time_output_layer(models["luong"].decoder, batch_list, device))
        for cell, kind in encoder_runs:
            encoder_runs[cell, kind].append(time_encoder(models[cell].encoder, batch_list,
                                                         kind == "packed", device))

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    whole = {name: median(runs[name, False]) for name in models}
    decoder = {name: median(runs[name, True]) for name in ("bahdanau", "luong")}
    print(json.dumps({
        "benchmark": "train_throughput",
        "profile": profile.name,
        "config": {"embed": profile.embed_size, "hidden": profile.hidden_size,
                   "layers": profile.num_layers, "batch": profile.batch_size,
                   "max_len": profile.max_len, "src_vocab": len(data.src_vocab),
                   "tgt_vocab": len(data.tgt_vocab), "timed_steps": args.steps,
                   "repeat": args.repeat},
        "whole_model_target_tok_per_s": whole,
        "decoder_only_target_tok_per_s": decoder,
        "output_layer_only_target_tok_per_s": median(output_runs),
        "luong_over_bahdanau": {
            "whole_model": round(whole["luong"] / whole["bahdanau"], 2),
            "decoder_only": round(decoder["luong"] / decoder["bahdanau"], 2)},
        "encoder_sent_per_s": {cell: {kind: median(encoder_runs[cell, kind])
                                      for kind in ("packed", "padded_unpacked")}
                               for cell in ("gru", "lstm")},
        "device": str(device),
        "device_name": (torch.cuda.get_device_name() if device.type == "cuda"
                        else platform.processor()),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
