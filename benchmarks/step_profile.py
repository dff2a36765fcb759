"""Where one training step's time goes, part by part, on this machine.

Usage: S2S_DATA_DIR=../shared/data python benchmarks/step_profile.py [--model nmt|luong]
           [--steps 20] [--repeat 3] [--precision auto]
Prints one JSON object: milliseconds per step of the whole step and of each part, and each
part's share of the whole.

The models are those of `benchmarks/time_to_quality.py` (chapter 7's `cpu` configuration,
`configs/nmt-cpu.toml`, or chapter 4's Luong model at the `cpu` profile), on the same
batches. The whole step is `s2s.train.train_step`, the step `fit` takes. Each part is then
timed alone, forward and backward, in the step's precision, on inputs recorded from real
steps (hooks on the decoder's attention and output layer keep what they were given):
* `data`: drawing a batch from the training loader (bucketed batches, as `fit` draws them);
* `encoder`: the source embedding and the (bidirectional) RNN encoder;
* `decoder_steps`: the decoder without its output layer (the target embedding, the RNN,
  attention, the combined output), on the encoder's outputs;
* `attention` (inside `decoder_steps`): every call the decoder makes to its attention;
* `output_layer`: the projection from the decoder's outputs to the vocabulary;
* `loss`: the masked cross-entropy over the vocabulary, in fp32, from the logits;
* `optimizer`: clipping the gradients and fused Adam's update.
`other` is the whole step less the parts but data (the whole step is timed on batches drawn
beforehand): the autograd engine's own work, glue. A part
timed alone may run a little faster or slower than inside the step. Medians of `--repeat`
rounds in which the parts take turns.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import s2s
from s2s.models import build_model
from s2s.precision import autocast, resolve_precision
from s2s.train import TrainConfig, make_optimizer, sequence_loss, train_step

try:  # run as a script: benchmarks/ is on the path
    from time_to_quality import NMT_CONFIG, luong_setup, nmt_setup
except ImportError:  # imported as benchmarks.step_profile
    from benchmarks.time_to_quality import NMT_CONFIG, luong_setup, nmt_setup


def milliseconds(work: Callable[[int], None], count: int) -> float:
    """Median milliseconds of `work(i)` over i < count (after one untimed call)."""
    work(0)
    times = []
    for i in range(count):
        start = time.perf_counter()
        work(i)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


class Recorder:
    """Forward hooks that keep what the decoder's attention and output layer were given."""

    def __init__(self, decoder: nn.Module) -> None:
        self.attention: list[tuple[tuple, dict]] = []
        self.out_input: torch.Tensor | None = None
        self.logits: torch.Tensor | None = None
        self.handles = [decoder.out.register_forward_hook(self._out),
                        decoder.attention.register_forward_hook(self._attend, with_kwargs=True)]

    def _out(self, module, args, output) -> None:
        self.out_input, self.logits = args[0].detach(), output.detach()

    def _attend(self, module, args, kwargs, output) -> None:
        detached = tuple(a.detach() if torch.is_tensor(a) else a for a in args)
        self.attention.append((detached, {k: v.detach() if torch.is_tensor(v) else v
                                          for k, v in kwargs.items()}))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def leaf(value):
    """A floating-point tensor as a new leaf that wants its gradient; anything else as is."""
    if torch.is_tensor(value) and value.is_floating_point():
        return value.clone().requires_grad_()
    return value


def backward_of(outputs) -> None:
    """Backpropagate the sum of every floating-point tensor in `outputs` (a nested tuple)."""
    flat = [t for t in _tensors(outputs) if t.requires_grad]
    torch.autograd.backward([t.float().sum() for t in flat])


def _tensors(value):
    if torch.is_tensor(value):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _tensors(item)


def profile_step(model, data, cfg: TrainConfig, steps: int, repeat: int,
                 precision: str, device: torch.device) -> dict:
    """Milliseconds per step of the whole step and of each part (medians over rounds)."""
    model.to(device).train()
    loader = data.loader("train", cfg.batch_size, seed=0, bucket=cfg.bucket)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == steps:
            break
    optimizer = make_optimizer(model.parameters(), cfg.lr, device)
    decoder = model.decoder
    recorded = []  # per batch: the encoder's outputs and what the hooks saw

    def whole(i: int) -> None:
        train_step(model, batches[i], optimizer, cfg, device=device, precision=precision)

    for i in range(steps):  # record each batch's inputs to the parts, from a real step
        recorder = Recorder(decoder)
        try:
            whole(i)
        finally:
            recorder.remove()
        src, src_len = batches[i][0].to(device), batches[i][1]
        with torch.no_grad(), autocast(precision, device):
            encoded = model.encoder(src, src_len)
        recorded.append((encoded, recorder))

    stream = iter(loader)

    def data_part(i: int) -> None:
        nonlocal stream
        try:
            next(stream)
        except StopIteration:  # an epoch's end: a new shuffle, as fit starts one
            stream = iter(loader)
            next(stream)

    def encoder_part(i: int) -> None:
        model.zero_grad(set_to_none=True)  # as train_step: gradients made, not added to
        src, src_len = batches[i][0].to(device), batches[i][1]
        with autocast(precision, device):
            outputs = model.encoder(src, src_len)
        backward_of(outputs)

    def decoder_part(i: int) -> None:
        model.zero_grad(set_to_none=True)
        encoded, _ = recorded[i]
        tgt_in = batches[i][2].to(device)
        with autocast(precision, device):
            leaves = tuple(t.clone().requires_grad_() for t in _tensors(encoded))
            state = decoder.init_state(_rebuild(encoded, iter(leaves)), batches[i][1])
            out, decoder.out = decoder.out, nn.Identity()  # the decoder's outputs, not logits
            try:
                outputs, _ = decoder(tgt_in, state)
            finally:
                decoder.out = out
        backward_of(outputs)

    def attention_part(i: int) -> None:  # every call of the step, one backward pass
        model.zero_grad(set_to_none=True)
        _, recorder = recorded[i]
        results = []
        for args, kwargs in recorder.attention:
            with autocast(precision, device):
                results.append(decoder.attention(*(leaf(a) for a in args),
                                                 **{k: leaf(v) for k, v in kwargs.items()}))
        backward_of(results)

    def output_part(i: int) -> None:
        model.zero_grad(set_to_none=True)
        _, recorder = recorded[i]
        with autocast(precision, device):
            logits = decoder.out(recorder.out_input.clone().requires_grad_())
        logits.float().sum().backward()

    def loss_part(i: int) -> None:
        _, recorder = recorded[i]
        logits = recorder.logits.clone().requires_grad_()
        sequence_loss(logits.float(), batches[i][3].to(device), mask=cfg.mask_loss,
                      label_smoothing=cfg.label_smoothing).backward()

    def optimizer_part(i: int) -> None:  # on the gradients the parts left
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()

    parts = {"whole_step": whole, "data": data_part, "encoder": encoder_part,
             "decoder_steps": decoder_part, "attention": attention_part,
             "output_layer": output_part, "loss": loss_part, "optimizer": optimizer_part}
    rounds: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(repeat):
        for name, work in parts.items():
            rounds[name].append(milliseconds(work, steps))
    ms = {name: round(statistics.median(values), 2) for name, values in rounds.items()}
    outside = ("whole_step", "attention", "data")  # attention is inside decoder_steps; the
    # whole step is timed on batches drawn beforehand
    ms["other"] = round(ms["whole_step"] - sum(v for k, v in ms.items() if k not in outside),
                        2)
    share = {name: f"{100 * value / ms['whole_step']:.1f} %" for name, value in ms.items()
             if name != "whole_step"}
    tokens = statistics.median(int((b[3] != 0).sum()) for b in batches)
    return {"ms_per_step": ms, "share_of_whole_step": share,
            "target_tokens_per_step": tokens}


def _rebuild(template, leaves):
    """`template` (a nested tuple of tensors) with each tensor replaced by the next leaf."""
    if torch.is_tensor(template):
        return next(leaves)
    return type(template)(_rebuild(item, leaves) for item in template)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("nmt", "luong"), default="nmt")
    parser.add_argument("--steps", type=int, default=20, help="batches timed per part and round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument("--precision", default="auto", help="fp32, bf16, fp16 or auto")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: by hardware)")
    args = parser.parse_args()
    if args.steps < 2 or args.repeat < 1:
        parser.error("--steps must be at least 2 and --repeat at least 1")
    device = torch.device(args.device) if args.device else s2s.get_device()
    if device.type != "cpu":
        parser.error("the parts are timed with the CPU's clock: run it with --device cpu")
    data, config, cfg = nmt_setup(NMT_CONFIG) if args.model == "nmt" else luong_setup()
    precision = resolve_precision(args.precision, device)
    s2s.seed_everything(0)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    result = profile_step(model, data, cfg, args.steps, args.repeat, precision, device)
    print(json.dumps({"model": args.model, "precision": precision,
                      "batch_size": cfg.batch_size, **result,
                      "machine": {"cpu": platform.processor() or platform.machine(),
                                  "threads": torch.get_num_threads(),
                                  "torch": torch.__version__},
                      "date": time.strftime("%Y-%m-%d")}, indent=1))


if __name__ == "__main__":
    main()
