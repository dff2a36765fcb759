"""Numeric precision of training and decoding: fp32, bf16, fp16, and `auto`.

Mixed precision runs the model's matrix products in a 16-bit format while the weights, the
optimizer's state, the loss and the checkpoints stay in 32-bit floats (fp32):

* `bf16` (bfloat16) keeps fp32's 8 exponent bits and cuts the mantissa to 7 bits: the same
  range as fp32, about 3 significant digits. Nothing overflows, so no loss scaling is needed.
* `fp16` (IEEE half) has 5 exponent bits and a 10-bit mantissa: more digits, far less range
  (the smallest normal number is 6e-5), so small gradients would round to zero. Training in
  fp16 multiplies the loss by a large factor before the backward pass and divides the
  gradients by it afterwards (`torch.amp.GradScaler`), skipping steps that overflow.
* `fp32`: everything in 32 bits.

`torch.autocast` does the casting: inside it, matrix products (and the oneDNN LSTM on a CPU)
run in the 16-bit type, while operations on autocast's fp32 list — the loss functions, and on
a GPU also softmax — run in fp32. On a CPU the attention softmax of a 16-bit score runs in
bf16. `fit` computes the loss outside autocast, from the logits cast to fp32.

`auto` (the profiles' setting) picks by a rule (benchmarks/README.md, *Precision*):

* CPU: `bf16` when the processor has native bf16 instructions (AVX512-BF16 or AMX), where
  a training step measured 1.2-1.4x faster (benchmarks/README.md); otherwise `fp32` (without
  those instructions bf16 is emulated; not measured here).
* CUDA GPU without bf16 (compute capability below 8.0, e.g. Colab's T4): `fp16` with a
  gradient scaler — these GPUs' tensor cores run fp16 and not bf16 (a hardware fact; not
  measured in this course yet).
* CUDA GPU with bf16 (A100, H100): `fp32`. At the `gpu` profile's sizes (batch 256, two
  layers of 512) a training step is bound by kernel launches, not arithmetic: bf16 autocast
  was measured slower on an H100 (Luong: bf16 99k vs fp32 139k target tokens/s, an earlier
  measurement quoted in benchmarks/README.md), the casts costing more than they save.
* any other device: `fp32`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Hardware:
    """What `auto` looks at: the device type and what it supports natively."""

    device_type: str  # "cpu", "cuda", ...
    cpu_bf16: bool = False  # AVX512-BF16 or AMX tiles
    cuda_bf16: bool = False  # compute capability >= 8.0

    def __str__(self) -> str:
        if self.device_type == "cpu":
            return f"CPU {'with' if self.cpu_bf16 else 'without'} native bf16"
        if self.device_type == "cuda":
            return f"CUDA GPU {'with' if self.cuda_bf16 else 'without'} bf16"
        return self.device_type


def detect(device: torch.device | str) -> Hardware:
    """The hardware facts of `device` that `auto` decides on."""
    device = torch.device(device)
    if device.type == "cpu":
        native = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return Hardware("cpu", cpu_bf16=native)
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return Hardware("cuda", cuda_bf16=major >= 8)
    return Hardware(device.type)


def check_precision(precision: object, who: str = "precision") -> str:
    """`precision` if it is one of PRECISIONS, else a ValueError naming `who`."""
    if precision not in PRECISIONS:
        raise ValueError(f"{who}={precision!r} is not a precision: choose one of "
                         f"{', '.join(map(repr, PRECISIONS))} ('auto' picks by hardware)")
    return str(precision)


def auto_precision(hardware: Hardware) -> str:
    """The documented rule (module docstring) from the detected hardware."""
    if hardware.device_type == "cpu":
        return "bf16" if hardware.cpu_bf16 else "fp32"
    if hardware.device_type == "cuda":
        return "fp32" if hardware.cuda_bf16 else "fp16"
    return "fp32"


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """`fp32`, `bf16` or `fp16`: `precision` itself, or what `auto` picks for `device`.
    An explicit choice is kept even where it may be slow (fp16 on a CPU runs)."""
    check_precision(precision)
    if precision == "auto":
        return auto_precision(detect(device))
    return precision


@contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """Run the body in `precision` (already resolved: fp32, bf16 or fp16) on `device`:
    torch.autocast for the 16-bit ones; for fp32, autocast switched off (also inside an
    enclosing autocast block)."""
    device = torch.device(device)
    _check_resolved(precision, "autocast")
    if precision == "fp32":
        with torch.autocast(device.type, enabled=False):
            yield
        return
    with torch.autocast(device.type, dtype=DTYPES[precision]):
        yield


def _check_resolved(precision: object, who: str) -> None:
    if precision not in ("fp32", *DTYPES):
        raise ValueError(f"{who} needs a resolved precision (fp32, bf16, fp16), got "
                         f"{precision!r}: call resolve_precision first")


def grad_scaler(precision: str, device: torch.device | str) -> torch.amp.GradScaler:
    """The gradient scaler training needs in `precision` (resolved): enabled for fp16 only;
    disabled, it passes the loss and the optimizer step through unchanged."""
    device = torch.device(device)
    _check_resolved(precision, "grad_scaler")
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def describe(precision: str, device: torch.device | str) -> str:
    """One line for a chapter's first cell: what `precision` resolves to here, and why."""
    resolved = resolve_precision(precision, device)
    if precision == "auto":
        return f"precision: {resolved} (auto, on a {detect(device)})"
    return f"precision: {resolved}"
