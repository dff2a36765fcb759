"""Training throughput, in target tokens per second, at one fixed configuration.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/train_throughput.py [--steps 20]
Prints one JSON object, so later changes can be compared run against run.

Fixed configuration: fra-eng (sentences <= 12 tokens, min_freq=2), embed 256, hidden 256,
2 layers, batch 128, Adam, gradient clipping: the same training step as `s2s.train.fit`.
Models: the GRU and LSTM encoder-decoders of chapter 3, and chapter 4's attention models with a
bidirectional GRU encoder: Bahdanau (runs step by step) and Luong without input feeding (runs
in parallel over time); `luong_over_bahdanau` is their throughput ratio.
Also measured: the encoder alone, packed (what `RNNEncoder` does, so final states are the
last real token's) against running the RNN over the padded batch (faster or not, it gives
wrong final states for padded sentences)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from s2s.data import PAD, load_translation
from s2s.models import ModelConfig, build_model
from s2s.train import sequence_loss


def batches(data, batch_size: int, count: int, seed: int = 0) -> list:
    loader = data.loader("train", batch_size, seed=seed)
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == count:
            break
    return out


def time_training(model, batch_list, device, warmup: int = 3) -> dict:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step(batch) -> int:
        src, src_len, tgt_in, tgt_out = (t.to(device) for t in batch)
        loss = sequence_loss(model(src, src_len, tgt_in), tgt_out)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return int((tgt_out != PAD).sum())

    for batch in batch_list[:warmup]:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, tokens = time.perf_counter(), 0
    for batch in batch_list[warmup:]:
        tokens += step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"target_tok_per_s": round(tokens / seconds, 1), "steps": len(batch_list) - warmup,
            "seconds": round(seconds, 3)}


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
    if device.type == "cuda":
        torch.cuda.synchronize()
    return round(sentences / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    data = load_translation("fra-eng", max_len=12, min_freq=2, verbose=False)
    batch_list = batches(data, 128, args.steps + 3)
    results: dict = {}
    for cell in ("gru", "lstm"):
        config = ModelConfig("rnn", len(data.src_vocab), len(data.tgt_vocab), embed_size=256,
                             hidden_size=256, num_layers=2, dropout=0.2, cell=cell, max_len=12)
        model = build_model(config, data.src_vocab, data.tgt_vocab).to(device)
        results[cell] = time_training(model, batch_list, device)
        results[f"{cell}_encoder_sent_per_s"] = {
            "packed": time_encoder(model.encoder, batch_list, True, device),
            "padded_unpacked": time_encoder(model.encoder, batch_list, False, device),
        }
    for kind, extra in (("bahdanau", {"attention": "additive"}),
                        ("luong", {"attention": "general"})):
        config = ModelConfig(kind, len(data.src_vocab), len(data.tgt_vocab), embed_size=256,
                             hidden_size=256, num_layers=2, dropout=0.2, cell="gru",
                             bidirectional=True, max_len=12, **extra)
        model = build_model(config, data.src_vocab, data.tgt_vocab).to(device)
        results[kind] = time_training(model, batch_list, device)
    results["luong_over_bahdanau"] = round(results["luong"]["target_tok_per_s"]
                                           / results["bahdanau"]["target_tok_per_s"], 2)
    print(json.dumps({
        "benchmark": "train_throughput",
        "config": {"embed": 256, "hidden": 256, "layers": 2, "batch": 128, "max_len": 12,
                   "src_vocab": len(data.src_vocab), "tgt_vocab": len(data.tgt_vocab)},
        **results,
        "device": str(device),
        "device_name": (torch.cuda.get_device_name() if device.type == "cuda"
                        else platform.processor()),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
