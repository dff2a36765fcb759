"""Training: the masked loss, a readable loop.

`fit` is the loop a learner can read top to bottom: for each batch, run the model with teacher
forcing (or feed back its own predictions for a fraction of the steps), compute the loss over
real target tokens only, clip the gradient, step Adam. The forward pass runs in the config's
precision (`s2s.precision`: bf16 autocast on a CPU that has it natively); the loss, the
weights, the optimizer and the checkpoints stay fp32, and validation is always fp32. Every
`eval_every` steps it measures the validation loss, keeps the best weights, stops early when
validation stops improving, and writes a checkpoint that `load_checkpoint` reads back and
`fit(..., resume=True)` continues.

The checkpoint files and the `History` a run records are in `s2s.checkpoints`, the live loss
plot a notebook shows during training in `s2s.progress`; their names can be imported from here
too. The models the chapters share (configs at a profile's sizes, the trained-once cache) are
in `s2s.zoo`.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

from s2s.checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    History,
    _read,
    _refuse_mismatch,
    _write,
    load_checkpoint,
    load_history,
    save_checkpoint,
)
from s2s.checks import check_bool, check_int, check_real
from s2s.data import TranslationData
from s2s.distributed import all_sum, broadcast_seconds, counted_targets, shard, token_weight, world
from s2s.distributed import check_device as check_group_device
from s2s.models import Seq2Seq
from s2s.precision import autocast, check_precision, grad_scaler, resolve_precision
from s2s.progress import PROGRESS_METADATA, LivePlot, in_notebook
from s2s.runtime import check_device, in_ci
from s2s.vocab import PAD

__all__ = [
    # s2s.checkpoints and s2s.progress, re-exported
    "CHECKPOINT_FORMAT", "CheckpointError", "History", "LivePlot", "PROGRESS_METADATA",
    "load_checkpoint", "load_history", "save_checkpoint",
    # this module
    "TrainConfig", "evaluate_loss", "feed_back_logits", "fit", "learning_rate", "make_optimizer",
    "sequence_loss",
]


def sequence_loss(logits: Tensor, tgt_out: Tensor, *, mask: bool = True,
                  label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy per target token.

    logits: (B, T, V); tgt_out: (B, T) with <pad> = 0 after each sentence's <eos>.
    mask=True averages over real tokens only (pad positions get zero gradient); mask=False is
    the mistake of d2l's library loss: pads count as targets, so part of every step trains the
    model to predict <pad> after <eos>, the loss is divided by all B*T slots (a batch with
    more padding weighs less), and the loss it reports is not the loss per real token."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                           ignore_index=PAD if mask else -100, label_smoothing=label_smoothing)


def feed_back_logits(model: Seq2Seq, src: Tensor, src_len: Tensor, tgt_in: Tensor,
                     rate: float, generator: torch.Generator | None = None) -> Tensor:
    """Decode step by step, feeding the model its own previous prediction instead of the true
    token with probability `rate` at each step (scheduled sampling). Returns (B, T, V)."""
    state = model.encode(src, src_len)
    token = tgt_in[:, 0]  # (B,) all <bos>
    steps = []
    for t in range(tgt_in.shape[1]):
        logits, state = model.decoder.step(token, state)  # (B, V)
        steps.append(logits)
        if t + 1 < tgt_in.shape[1]:
            own = torch.rand(token.shape, generator=generator) < rate  # (B,)
            token = torch.where(own.to(tgt_in.device), logits.argmax(-1), tgt_in[:, t + 1])
    return torch.stack(steps, dim=1)


@dataclass
class TrainConfig:
    """How to train. Budgets: stop at whichever of max_epochs, max_steps, max_minutes comes
    first (steps and minutes count from the start of training, across resumes)."""

    max_epochs: int = 10
    max_steps: int | None = None
    max_minutes: float | None = None
    lr: float = 1e-3
    clip: float = 1.0
    eval_every: int | None = None  # steps between validations; None = once per epoch
    patience: int | None = 3  # validations without improvement before stopping; None = never
    mask_loss: bool = True
    label_smoothing: float = 0.0
    feed_back: float = 0.0  # fraction of decoder inputs taken from the model's own predictions
    lr_decay: float = 0.0  # last fraction of the budget in which lr falls linearly to 0
    batch_size: int = 128
    bucket: bool = True  # length-bucketed batches; False: plain shuffled ones (more padding)
    seed: int = 0
    precision: str = "auto"  # fp32, bf16, fp16 (with a gradient scaler) or auto: s2s.precision

    def __setattr__(self, name: str, value: object) -> None:
        """Every field is checked when set (at construction and later): a nonsense setting
        fails here, naming the field, rather than being reinterpreted during training."""
        check = _TRAIN_CHECKS.get(name)
        if check is not None:
            check(value)
        super().__setattr__(name, value)


def _train_check(name: str, kind: str, **limits: object):
    check = {"int": check_int, "real": check_real, "bool": check_bool}[kind]
    return lambda value: check(f"TrainConfig.{name}", value, **limits)


_TRAIN_CHECKS = {
    "max_epochs": _train_check("max_epochs", "int", low=1),
    "max_steps": _train_check("max_steps", "int", low=1, none_ok=True,
                              hint="None: no step budget"),
    "max_minutes": _train_check("max_minutes", "real", low=0, low_open=True, none_ok=True,
                                hint="None: no time budget"),
    "lr": _train_check("lr", "real", low=0,
                       hint="Adam's step size, e.g. 1e-3 (0 freezes the weights)"),
    "clip": _train_check("clip", "real", low=0, low_open=True,
                         hint="the largest gradient norm, e.g. 1.0"),
    "eval_every": _train_check("eval_every", "int", low=1, none_ok=True,
                               hint="steps between validations; None: once per epoch"),
    "patience": _train_check("patience", "int", low=1, none_ok=True,
                             hint="validations without improvement; None: never stop early"),
    "mask_loss": _train_check("mask_loss", "bool"),
    "label_smoothing": _train_check("label_smoothing", "real", low=0, high=1, high_open=True),
    "feed_back": _train_check("feed_back", "real", low=0, high=1,
                              hint="the fraction of decoder inputs taken from the model's own "
                                   "predictions"),
    "lr_decay": _train_check("lr_decay", "real", low=0, high=1,
                             hint="the last fraction of the budget in which lr falls to 0"),
    "batch_size": _train_check("batch_size", "int", low=1),
    "bucket": _train_check("bucket", "bool"),
    "seed": _train_check("seed", "int"),
    "precision": lambda value: check_precision(value, "TrainConfig.precision"),
}


def learning_rate(cfg: TrainConfig, steps: int, seconds: float, steps_per_epoch: int) -> float:
    """The learning rate for the next step: `cfg.lr`, then, over the last `cfg.lr_decay` of the
    budget, a straight line down to 0. The budget used so far is the largest of the fractions
    of max_steps, max_minutes and max_epochs spent (whichever runs out first)."""
    if not 0.0 <= cfg.lr_decay <= 1.0:
        raise ValueError(f"lr_decay must be a fraction in [0, 1], got {cfg.lr_decay}")
    if cfg.lr_decay == 0.0:
        return cfg.lr
    used = [steps / (steps_per_epoch * cfg.max_epochs)]
    if cfg.max_steps is not None:
        used.append(steps / cfg.max_steps)
    if cfg.max_minutes is not None:
        used.append(seconds / (60 * cfg.max_minutes))
    left = 1.0 - min(1.0, max(used))  # fraction of the budget still to go
    return cfg.lr * min(1.0, left / cfg.lr_decay)


def make_optimizer(params, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam, as one fused kernel over all parameters on a CPU or a CUDA GPU: the same update
    as the textbook loop over parameters up to rounding, about four times faster on a CPU
    (3.7 vs 15 ms per step at the `cpu` profile's sizes, measured with torch.profiler)."""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Load a saved optimizer state but keep this run's implementation (fused or not): a
    checkpoint from another device or an older version must not switch it."""
    chosen = [{k: group[k] for k in ("fused", "foreach")} for group in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    for group, keep in zip(optimizer.param_groups, chosen, strict=True):
        group.update(keep)


@torch.no_grad()
def evaluate_loss(model: Seq2Seq, loader, device: torch.device) -> float:
    """Masked cross-entropy per real target token over a whole loader, in fp32 (whatever
    precision training ran in, and inside an autocast block too, so runs in different
    precisions are measured alike).

    With several processes (`s2s.distributed`) each rank measures every size-th batch and
    the sums are shared: every rank returns the same loss, that of the whole loader. It is
    then a collective call: every rank must make it."""
    model.eval()
    w = world()
    total, tokens = 0.0, 0
    for i, (src, src_len, tgt_in, tgt_out) in enumerate(loader):
        if i % w.size != w.rank:
            continue  # another rank's batch
        src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
        with autocast("fp32", device):
            logits = model(src, src_len, tgt_in)
        n = int((tgt_out != PAD).sum())
        total += float(sequence_loss(logits, tgt_out)) * n
        tokens += n
    if w.size > 1:
        total, tokens = all_sum([total, tokens], device)
    return total / max(tokens, 1)


def _refuse_other_data(model: Seq2Seq, data: TranslationData, who: str) -> None:
    """`who` (fit, judge) needs the model's vocabularies to be the data's: other ids would
    silently mean other words."""
    for side, name in (("src_vocab", "source"), ("tgt_vocab", "target")):
        if getattr(model, side) != getattr(data, side):
            raise ValueError(f"{who}: the model's {name} vocabulary differs from the "
                             "data's (another corpus, max_len, max_pairs or min_freq): build "
                             "the model from this data's vocabularies, or load the data it "
                             "was built for")


def fit(model: Seq2Seq, data: TranslationData, cfg: TrainConfig, *,
        device: torch.device | str = "cpu", checkpoint: str | Path | None = None,
        resume: bool = False, progress: bool | None = None) -> History:
    """Train `model` on `data.splits.train`, validating on `data.splits.valid`.

    checkpoint: where to keep the best model (and the state to resume from).
    resume: continue from `checkpoint` exactly where it was written (weights, optimizer,
    history, the position inside the epoch, the shuffle and random-number states, the patience
    counter): on the CPU an interrupted run, resumed, gives the losses and weights of an
    uninterrupted one. An interrupt between two checkpoints loses the steps since the last.
    progress: a live loss plot in a notebook, a text progress bar elsewhere; default: on,
    except in CI (`s2s.runtime.in_ci`) or with S2S_QUIET=1.
    The forward pass runs in `cfg.precision` (resolved for `device`, recorded in the
    history); fp16 scales the loss with a `GradScaler`, which skips a step whose gradients
    overflow and lowers its scale.
    Under `torchrun` (a process group set up by `s2s.distributed.setup`) each process trains
    on its shard of every global batch of `cfg.batch_size` pairs through
    DistributedDataParallel, and only rank 0 writes the checkpoint and shows progress (see
    `s2s.distributed`).
    At the end the model holds the best validation weights."""
    from torch.nn.parallel import DistributedDataParallel
    from tqdm import tqdm

    device = check_device(device, "fit(device=...)")
    w = world()
    quiet = in_ci() or os.environ.get("S2S_QUIET") == "1"
    show = (not quiet if progress is None else progress) and w.main
    _refuse_other_data(model, data, "fit")
    if w.size > 1:
        device = check_group_device(device, w)
    if w.size > 1 and cfg.feed_back > 0:
        raise ValueError(f"TrainConfig.feed_back={cfg.feed_back}: feeding back the model's own "
                         f"predictions runs the decoder step by step outside "
                         f"DistributedDataParallel, so it cannot train on {w.size} processes; "
                         "set feed_back=0 or train in one process")
    precision = resolve_precision(cfg.precision, device)
    model.to(device)
    optimizer = make_optimizer(model.parameters(), cfg.lr, device)
    scaler = grad_scaler(precision, device)  # fp16 only; otherwise a pass-through
    history = History()
    best_state = copy.deepcopy(model.state_dict())
    generator = torch.Generator().manual_seed(cfg.seed)  # feed-back draws
    position, bad_evals, loader_rng = 0, 0, None  # batches of this epoch done; resume state
    torch_rng = None  # the global generator's state (dropout) to continue from
    if resume:
        if checkpoint is None or not Path(checkpoint).exists():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {checkpoint}")
        saved = _read(checkpoint)
        _refuse_mismatch(saved, model.config, model.src_vocab, model.tgt_vocab, checkpoint)
        model.load_state_dict(saved["last_state"])
        best_state = saved["model_state"]
        if saved["optimizer"] is not None:  # None: saved by save_checkpoint, not by fit
            _load_optimizer(optimizer, saved["optimizer"])
        if scaler.is_enabled() and saved.get("resume", {}).get("scaler"):
            scaler.load_state_dict(saved["resume"]["scaler"])
        history = History(**saved["history"])
        history.stopped = ""  # the old run's reason to stop; this run has its own budget
        if "resume" in saved:  # (checkpoints written before exact resume lack it)
            position, bad_evals = saved["resume"]["position"], saved["resume"]["bad_evals"]
            loader_rng = saved["resume"].get("loader_rng")
            torch_rng = saved["resume"]["torch_rng"]  # restored in the loop, see there
            generator.set_state(saved["resume"]["feed_back_rng"])
    # A run resumed in another precision records both, in order ("bf16+fp32").
    done_in = history.precision.split("+") if history.precision else []
    history.precision = "+".join(done_in + ([precision] if done_in[-1:] != [precision] else []))
    # Several processes: DDP averages the gradients (and starts every rank from rank 0's
    # weights); `model` stays the plain model, whose weights the checkpoints hold.
    net = model if w.size == 1 else DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    loader = data.loader("train", cfg.batch_size, seed=cfg.seed, bucket=cfg.bucket)
    valid_loader = data.loader("valid", 2 * cfg.batch_size)
    eval_every = cfg.eval_every or len(loader)
    plot = LivePlot(len(loader)) if show and in_notebook() else None

    def resume_state(batches_done: int) -> dict:
        """What `resume` needs besides weights, optimizer and history. After a validation
        that only the end of the budget asked for (an uninterrupted run would not have made
        it), the generator and patience counter are those from before it."""
        rng, patience_count = unscheduled or (torch.get_rng_state(), bad_evals)
        return {"position": batches_done, "bad_evals": patience_count, "loader_rng": loader_rng,
                "torch_rng": rng, "feed_back_rng": generator.get_state(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else None}

    done = position  # batches of the current epoch trained so far
    unscheduled: tuple[Tensor, int] | None = None  # see resume_state
    start = time.perf_counter() - history.seconds
    learning_rate(cfg, history.steps, history.seconds, len(loader))  # a bad lr_decay fails here

    def elapsed() -> float:
        """Seconds of training so far; with several processes, rank 0's on every rank, so
        that all of them schedule the learning rate alike and stop at the same step."""
        seconds = time.perf_counter() - start
        return broadcast_seconds(seconds, device) if w.size > 1 else seconds

    def out_of_budget() -> str:
        if cfg.max_steps is not None and history.steps >= cfg.max_steps:
            return f"max_steps={cfg.max_steps}"
        if cfg.max_minutes is not None and elapsed() >= 60 * cfg.max_minutes:
            return f"max_minutes={cfg.max_minutes}"
        return ""

    history.stopped = out_of_budget()  # a resumed run may have no budget left
    while not history.stopped:
        if position == 0:  # a new epoch
            if history.epochs_started >= cfg.max_epochs:
                history.stopped = f"max_epochs={cfg.max_epochs}"
                break
            history.epochs_started += 1
            if loader.generator is not None:  # plain batches: the state that shuffles them
                loader_rng = loader.generator.get_state()
        elif loader_rng is not None:  # resuming inside an epoch of plain batches
            loader.generator.set_state(loader_rng)
        loader.batch_sampler.epoch = history.epochs_started - 1  # bucketed: a seeded shuffle
        # Starting to iterate draws a seed from torch's global generator, which dropout uses
        # too: a resumed run restores that generator where the interrupted run had it.
        if torch_rng is not None and position == 0:
            torch.set_rng_state(torch_rng)
        batches = iter(loader)
        if torch_rng is not None and position > 0:
            torch.set_rng_state(torch_rng)
        torch_rng = None
        bar = tqdm(batches, total=len(loader), desc=f"epoch {history.epochs_started}",
                   leave=False, disable=not show or plot is not None)  # notebooks: the plot
        skip, position = position, 0
        for step_in_epoch, (src, src_len, tgt_in, tgt_out) in enumerate(bar, 1):
            if step_in_epoch <= skip:
                continue  # trained before the run was resumed: same batches, same order
            model.train()
            batch_tokens = int((tgt_out != PAD).sum())  # the whole (global) batch's
            if w.size > 1:  # this rank's rows of the global batch
                (src, src_len, tgt_in, tgt_out), real = shard((src, src_len, tgt_in, tgt_out), w)
            src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
            with autocast(precision, device):  # the forward pass in 16 bits, or fp32
                if cfg.feed_back > 0:
                    logits = feed_back_logits(model, src, src_len, tgt_in, cfg.feed_back,
                                              generator)
                else:
                    logits = net(src, src_len, tgt_in)  # (B, T, V), teacher forcing
            loss = sequence_loss(logits.float(), tgt_out, mask=cfg.mask_loss,  # loss in fp32
                                 label_smoothing=cfg.label_smoothing)
            loss_value = loss.item()
            if w.size > 1:  # weigh this rank's mean by its share of the global batch
                counted = counted_targets(tgt_out, cfg.mask_loss, real)
                total, global_counted = all_sum([loss_value * counted, counted], device)
                loss = loss * token_weight(counted, int(global_counted), w)
                loss_value = total / max(global_counted, 1)  # the global batch's loss
            optimizer.zero_grad()
            scaler.scale(loss).backward()  # fp16: the loss times the scale; else unchanged
            scaler.unscale_(optimizer)  # the true gradients, before clipping
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            # With fp16 an overflowing gradient is expected now and then: the scaler skips
            # that step and lowers its scale. Only a non-finite loss means divergence there.
            # Overflowing again and again drives the scale below 1: that is divergence too.
            overflow_expected = scaler.is_enabled() and scaler.get_scale() >= 1.0
            if not (math.isfinite(loss_value)
                    and (overflow_expected or torch.isfinite(grad_norm))):
                model.load_state_dict(best_state)
                kept = f"; the last good checkpoint {checkpoint} is kept" if checkpoint else ""
                fix = ("Lower lr or clip, or train in bf16 or fp32 (precision=...): fp16 "
                       "overflows above 65,504" if precision == "fp16" else "Lower lr or clip")
                raise FloatingPointError(
                    f"training diverged at step {history.steps + 1}: loss {loss_value}, "
                    f"gradient norm {float(grad_norm)} (lr={cfg.lr}, clip={cfg.clip}, "
                    f"precision={precision}); the model holds its best weights so "
                    f"far{kept}. {fix}.")
            seconds = elapsed()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, history.steps, seconds, len(loader))
            scaler.step(optimizer)  # = optimizer.step(), skipped by fp16 on overflow
            scaler.update()

            history.steps += 1
            history.step_loss.append(loss_value)
            history.target_tokens += batch_tokens
            history.seconds = time.perf_counter() - start
            done = step_in_epoch % len(loader)
            bar.set_postfix(loss=f"{history.step_loss[-1]:.3f}",
                            tok_s=f"{history.tokens_per_second:,.0f}")
            if plot is not None:
                plot.tick(history, step_in_epoch)
            stop = out_of_budget()
            unscheduled = None
            if history.steps % eval_every == 0 or stop:
                if history.steps % eval_every != 0:  # validating draws from the generator
                    unscheduled = (torch.get_rng_state(), bad_evals)
                val = evaluate_loss(model, valid_loader, device)
                history.val_steps.append(history.steps)
                history.val_loss.append(val)
                if val < history.best_val:
                    history.best_val, bad_evals = val, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad_evals += 1
                    if cfg.patience is not None and bad_evals >= cfg.patience:
                        stop = f"early stopping: {bad_evals} validations without improvement"
                if plot is not None:
                    plot.update(history, step_in_epoch)
                if checkpoint is not None and w.main:  # rank 0 alone writes
                    _write(checkpoint, model, best_state, optimizer, history,
                           resume=resume_state(done))
            if stop:
                history.stopped = stop
                break
        bar.close()
    history.seconds = time.perf_counter() - start
    if plot is not None:
        plot.close(history)
    last_state = copy.deepcopy(model.state_dict())
    if checkpoint is not None and w.main:
        _write(checkpoint, model, best_state, optimizer, history, last_state,
               resume=resume_state(done))
    if w.size > 1:  # the other ranks wait until the checkpoint is complete
        torch.distributed.barrier()
    model.load_state_dict(best_state)
    model.eval()
    return history
