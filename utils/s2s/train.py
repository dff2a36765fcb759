"""Training: the masked loss, a readable loop.

`fit` is the loop a learner can read top to bottom: for each batch, run the model with teacher
forcing (or feed back its own predictions for a fraction of the steps), compute the loss over
real target tokens only, clip the gradient, step Adam. The forward pass runs in the config's
precision (`s2s.precision`: bf16 autocast on a CPU that has it natively); the loss, the
weights, the optimizer and the checkpoints stay fp32, and validation is always fp32. Every
`eval_every` steps it measures the validation loss (on the valid split, or its first
`valid_pairs` pairs), keeps the best weights, stops early when
validation stops improving, and writes a checkpoint that `load_checkpoint` reads back and
`fit(..., resume=True)` continues.

The parts, each callable on its own: `train_step` (one batch: forward, loss, backward,
clip, update; the benchmarks time it), `evaluate_loss` (validation), `TrainState` (what a
checkpoint stores besides the model and optimizer) and `fit`, the loop over them. The
checkpoint files and the `History` a run records are in `s2s.checkpoints`, the progress
displays in `s2s.progress`, several processes in `s2s.distributed` (one `Group` object). The
models the chapters share (configs at a profile's sizes, the trained-once cache) are in
`s2s.zoo`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from s2s import settings
from s2s.arguments import check_bool, check_int, check_real
from s2s.checkpoints import (
    History,
    ResumeState,
    check_checkpoint_path,
    check_matches,
    read_checkpoint,
    write_checkpoint,
)
from s2s.data import TranslationData
from s2s.distributed import Group
from s2s.models import Seq2Seq
from s2s.precision import autocast, check_precision, grad_scaler, resolve_precision
from s2s.progress import display_for
from s2s.runtime import check_device
from s2s.vocab import PAD

__all__ = [
    "StepResult", "TrainConfig", "TrainState", "evaluate_loss", "feed_back_logits", "fit",
    "learning_rate", "make_optimizer", "param_groups", "sequence_loss", "train_step",
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
    warmup: int = 0  # first steps in which lr rises linearly from lr / warmup to lr
    batch_size: int = 128
    bucket: bool = True  # length-bucketed batches; False: plain shuffled ones (more padding)
    seed: int = 0
    precision: str = "auto"  # fp32, bf16, fp16 (with a gradient scaler) or auto: s2s.precision
    score_lr_scale: float = 1.0  # the attention score's learning rate, as a multiple of lr
    valid_pairs: int | None = None  # validate on the valid split's first N pairs; None: all

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
    "warmup": _train_check("warmup", "int", low=0,
                           hint="the number of steps over which lr rises to its value; 0: none"),
    "batch_size": _train_check("batch_size", "int", low=1),
    "bucket": _train_check("bucket", "bool"),
    "seed": _train_check("seed", "int"),
    "precision": lambda value: check_precision(value, "TrainConfig.precision"),
    "valid_pairs": _train_check("valid_pairs", "int", low=1, none_ok=True,
                                hint="the number of the valid split's first pairs each "
                                     "validation measures, e.g. 1000; None: all of them"),
    "score_lr_scale": _train_check("score_lr_scale", "real", low=0, low_open=True,
                                   hint="a multiple of lr for the attention score's weights, "
                                        "e.g. 0.1; 1.0: the same rate as every weight"),
}


def learning_rate(cfg: TrainConfig, steps: int, seconds: float, steps_per_epoch: int) -> float:
    """The learning rate for the next step (`steps` taken so far): over the first `cfg.warmup`
    steps a straight line up, (steps + 1) / warmup x `cfg.lr`; then `cfg.lr`; over the last
    `cfg.lr_decay` of the budget a straight line down to 0. The budget used so far is the
    largest of the fractions of max_steps, max_minutes and max_epochs spent (whichever runs out
    first)."""
    if not 0.0 <= cfg.lr_decay <= 1.0:
        raise ValueError(f"lr_decay must be a fraction in [0, 1], got {cfg.lr_decay}")
    warm = min(1.0, (steps + 1) / cfg.warmup) if cfg.warmup > 0 else 1.0
    if cfg.lr_decay == 0.0:
        return cfg.lr * warm
    used = [steps / (steps_per_epoch * cfg.max_epochs)]
    if cfg.max_steps is not None:
        used.append(steps / cfg.max_steps)
    if cfg.max_minutes is not None:
        used.append(seconds / (60 * cfg.max_minutes))
    left = 1.0 - min(1.0, max(used))  # fraction of the budget still to go
    return cfg.lr * warm * min(1.0, left / cfg.lr_decay)


def param_groups(model: nn.Module, score_lr_scale: float = 1.0) -> list[dict]:
    """The model's weights as the optimizer's parameter groups: one group, or with
    `score_lr_scale` != 1 a second group of the attention score's weights (names containing
    ".score."), whose learning rate is `score_lr_scale` times every other weight's (recorded
    in the group as "lr_scale", which `train_step` applies)."""
    named = list(model.named_parameters())
    score = [p for name, p in named if ".score." in name]
    if score_lr_scale == 1.0 or not score:
        return [{"params": [p for _, p in named]}]
    rest = [p for name, p in named if ".score." not in name]
    return [{"params": rest}, {"params": score, "lr_scale": score_lr_scale}]


def make_optimizer(params, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam, as one fused kernel over all parameters on a CPU or a CUDA GPU: the same update
    as the textbook loop over parameters up to rounding, about four times faster on a CPU
    (3.7 vs 15 ms per step at the `cpu` profile's sizes, measured with torch.profiler)."""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def load_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Load a saved optimizer state but keep this run's implementation (fused or not): a
    checkpoint from another device or an older version must not switch it."""
    chosen = [{k: group[k] for k in ("fused", "foreach")} for group in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    for group, keep in zip(optimizer.param_groups, chosen, strict=True):
        group.update(keep)


@torch.no_grad()
def evaluate_loss(model: Seq2Seq, loader, device: torch.device,
                  group: Group | None = None) -> float:
    """Masked cross-entropy per real target token over a whole loader, in fp32 (whatever
    precision training ran in, and inside an autocast block too, so runs in different
    precisions are measured alike).

    With several processes (`group`, see `s2s.distributed`) each rank measures every size-th
    batch and the sums are shared: every rank returns the same loss, that of the whole
    loader. It is then a collective call: every rank must make it."""
    model.eval()
    group = group or Group(torch.device(device))
    total, tokens = 0.0, 0
    for i, (src, src_len, tgt_in, tgt_out) in enumerate(loader):
        if not group.mine(i):
            continue  # another rank's batch
        src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
        with autocast("fp32", device):
            logits = model(src, src_len, tgt_in)
        n = int((tgt_out != PAD).sum())
        total += float(sequence_loss(logits, tgt_out)) * n
        tokens += n
    total, tokens = group.sum([total, tokens])
    return total / max(tokens, 1)


@dataclass
class StepResult:
    """What one training step reports."""

    loss: float  # the (global) batch's mean loss per target token
    grad_norm: float  # the gradient's norm before clipping


Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # src (B, S), src_len (B,), tgt_in, tgt_out (B, T)


def train_step(model: Seq2Seq, batch: Batch, optimizer: torch.optim.Optimizer,
               cfg: TrainConfig, *, device: torch.device | str = "cpu",
               precision: str = "fp32", scaler: torch.amp.GradScaler | None = None,
               group: Group | None = None, net: nn.Module | None = None,
               generator: torch.Generator | None = None,
               lr: Callable[[], float] | float | None = None) -> StepResult:
    """One update on one batch: the forward pass in `precision` (under autocast; teacher
    forcing through `net`, default the model, or feeding back predictions with
    `cfg.feed_back`), the masked loss in fp32, backward (scaled by an fp16 `scaler`), the
    gradient clipped to `cfg.clip`, then the optimizer's step at learning rate `lr` (a number,
    or a function called after the backward pass; default: `cfg.lr`).

    batch: (src (B, S), src_len (B,), tgt_in (B, T), tgt_out (B, T)), on any device; with
    a `group` of several processes, the global batch, of which this rank trains its shard.
    A non-finite loss or gradient raises FloatingPointError naming the settings (with fp16
    an overflowing gradient is expected now and then: the scaler skips that step)."""
    group = group or Group(torch.device(device))
    scaler = scaler or grad_scaler(precision, device)
    model.train()
    (src, src_len, tgt_in, tgt_out), real = group.shard(batch)
    src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
    with autocast(precision, device):  # the forward pass in 16 bits, or fp32
        if cfg.feed_back > 0:
            logits = feed_back_logits(model, src, src_len, tgt_in, cfg.feed_back, generator)
        else:
            logits = (net or model)(src, src_len, tgt_in)  # (B, T, V), teacher forcing
    loss = sequence_loss(logits.float(), tgt_out, mask=cfg.mask_loss,  # loss in fp32
                         label_smoothing=cfg.label_smoothing)
    loss, loss_value = group.global_loss(loss, tgt_out, cfg.mask_loss, real)
    optimizer.zero_grad()
    scaler.scale(loss).backward()  # fp16: the loss times the scale; else unchanged
    scaler.unscale_(optimizer)  # the true gradients, before clipping
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip))
    check_finite(loss_value, grad_norm, scaler, cfg, precision)
    rate = lr() if callable(lr) else (cfg.lr if lr is None else lr)
    for param_group in optimizer.param_groups:
        param_group["lr"] = rate * param_group.get("lr_scale", 1.0)
    scaler.step(optimizer)  # = optimizer.step(), skipped by fp16 on overflow
    scaler.update()
    return StepResult(loss_value, grad_norm)


def check_finite(loss: float, grad_norm: float, scaler: torch.amp.GradScaler,
                 cfg: TrainConfig, precision: str) -> None:
    """Raise FloatingPointError on a non-finite loss, or gradient (fp16 expects an
    overflowing gradient now and then, but one that overflows again and again drives the
    scaler's scale below 1: divergence too)."""
    overflow_expected = scaler.is_enabled() and scaler.get_scale() >= 1.0
    if math.isfinite(loss) and (overflow_expected or math.isfinite(grad_norm)):
        return
    raise FloatingPointError(f"loss {loss}, gradient norm {grad_norm} "
                             f"{divergence_fix(cfg, precision)}")


def divergence_fix(cfg: TrainConfig, precision: str) -> str:
    """The settings of a diverging run and what to change."""
    fix = ("Lower lr or clip, or train in bf16 or fp32 (precision=...): fp16 overflows above "
           "65,504" if precision == "fp16" else "Lower lr or clip")
    return f"(lr={cfg.lr}, clip={cfg.clip}, precision={precision}). {fix}."


DIVERGENCE_FACTOR = 4.0  # a loss this many times the run's first is divergence


def check_not_diverging(loss: float, history: History, cfg: TrainConfig,
                        precision: str) -> None:
    """Raise FloatingPointError when a finite loss has climbed past DIVERGENCE_FACTOR times the
    run's first step's loss: an untrained model's loss is about log(vocabulary size), and a
    model that trains never comes back from being that confidently wrong (too high a
    learning rate climbs on, a loss of 2.7 to 26,106, without ever becoming non-finite)."""
    if history.step_loss and loss > DIVERGENCE_FACTOR * history.step_loss[0]:
        raise FloatingPointError(f"loss {loss:.4g}, more than {DIVERGENCE_FACTOR:g} times the "
                                 f"first step's {history.step_loss[0]:.4g} "
                                 f"{divergence_fix(cfg, precision)}")


@dataclass
class TrainState:
    """A run of `fit` as a checkpoint stores it, besides the model's and optimizer's own
    states: the history, the best weights so far and what an exact resume needs."""

    history: History = field(default_factory=History)
    best_state: dict[str, Tensor] = field(default_factory=dict)
    resume: ResumeState = field(default_factory=ResumeState)

    @classmethod
    def read(cls, checkpoint: str | Path, model: Seq2Seq,
             optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> TrainState:
        """Restore `model` (its last weights), `optimizer` and `scaler` from `checkpoint`,
        which must have been written for this model's config and vocabularies; return the
        rest of the run."""
        if checkpoint is None or not Path(checkpoint).exists():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {checkpoint}")
        saved = read_checkpoint(checkpoint)
        check_matches(saved, model.config, model.src_vocab, model.tgt_vocab, checkpoint)
        model.load_state_dict(saved["last_state"])
        if saved["optimizer"] is not None:  # None: saved by save_checkpoint, not by fit
            load_optimizer(optimizer, saved["optimizer"])
        resume = ResumeState.from_dict(saved["resume"]) if "resume" in saved else ResumeState()
        if scaler.is_enabled() and resume.scaler:
            scaler.load_state_dict(resume.scaler)
        history = History(**saved["history"])
        history.stopped = ""  # the old run's reason to stop; this run has its own budget
        return cls(history, saved["model_state"], resume)

    def record_precision(self, precision: str) -> None:
        """A run resumed in another precision records both, in order ("bf16+fp32")."""
        done_in = self.history.precision.split("+") if self.history.precision else []
        if done_in[-1:] != [precision]:
            done_in.append(precision)
        self.history.precision = "+".join(done_in)


def save(checkpoint: str | Path | None, model: Seq2Seq, state: TrainState,
         optimizer: torch.optim.Optimizer, resume: ResumeState, group: Group,
         last_state: dict | None = None) -> None:
    """Write the run's checkpoint (rank 0 alone, when there is a checkpoint to write)."""
    if checkpoint is not None and group.main:
        write_checkpoint(checkpoint, model, state.best_state, optimizer, state.history,
                         last_state, resume=resume)


def validate(model: Seq2Seq, loader, device: torch.device, group: Group, state: TrainState,
             patience: int | None) -> str:
    """Measure the validation loss, record it, keep the best weights and count validations
    without improvement; returns the reason to stop early, or ""."""
    history = state.history
    val = evaluate_loss(model, loader, device, group)
    history.val_steps.append(history.steps)
    history.val_loss.append(val)
    if val < history.best_val:
        history.best_val, state.resume.bad_evals = val, 0
        state.best_state = copy.deepcopy(model.state_dict())
        return ""
    state.resume.bad_evals += 1
    if patience is not None and state.resume.bad_evals >= patience:
        return f"early stopping: {state.resume.bad_evals} validations without improvement"
    return ""


def out_of_budget(cfg: TrainConfig, history: History, seconds: Callable[[], float]) -> str:
    """Why to stop now, given the steps and `seconds()` of training so far; "" to go on."""
    if cfg.max_steps is not None and history.steps >= cfg.max_steps:
        return f"max_steps={cfg.max_steps}"
    if cfg.max_minutes is not None and seconds() >= 60 * cfg.max_minutes:
        return f"max_minutes={cfg.max_minutes}"
    return ""


def epoch_batches(loader, state: TrainState) -> Iterator[tuple[int, Batch]]:
    """The batches still to train in this epoch, numbered from 1 within the epoch: all of
    them in a new epoch, those after `state.resume.position` in a resumed one (the same
    batches in the same order: the shuffles are seeded, and the generators restored)."""
    resume, history = state.resume, state.history
    if resume.position == 0:  # a new epoch
        history.epochs_started += 1
        if loader.generator is not None:  # plain batches: the state that shuffles them
            resume.loader_rng = loader.generator.get_state()
    elif resume.loader_rng is not None:  # resuming inside an epoch of plain batches
        loader.generator.set_state(resume.loader_rng)
    loader.batch_sampler.epoch = history.epochs_started - 1  # bucketed: a seeded shuffle
    # Starting to iterate draws a seed from torch's global generator, which dropout uses
    # too: a resumed run restores that generator where the interrupted run had it.
    if resume.torch_rng is not None and resume.position == 0:
        torch.set_rng_state(resume.torch_rng)
    batches = iter(loader)
    if resume.torch_rng is not None and resume.position > 0:
        torch.set_rng_state(resume.torch_rng)
    resume.torch_rng = None
    skip, resume.position = resume.position, 0
    for step_in_epoch, batch in enumerate(batches, 1):
        if step_in_epoch > skip:  # the others were trained before the run was resumed
            yield step_in_epoch, batch


Rule = Callable[[Seq2Seq, History], str]  # fit's `until`: a reason to stop, or "" to go on


def fit(model: Seq2Seq, data: TranslationData, cfg: TrainConfig, *,
        device: torch.device | str = "cpu", checkpoint: str | Path | None = None,
        resume: bool = False, progress: bool | None = None,
        until: Rule | None = None) -> History:
    """Train `model` on `data.splits.train`, validating on `data.splits.valid`.

    checkpoint: where to keep the best model (and the state to resume from).
    resume: continue from `checkpoint` exactly where it was written (weights, optimizer,
    history, the position inside the epoch, the shuffle and random-number states, the patience
    counter): on the CPU an interrupted run, resumed, gives the losses and weights of an
    uninterrupted one. An interrupt between two checkpoints loses the steps since the last.
    A run that ended its budget (or `until` stopped) off the eval_every schedule validated
    there too; continued with a larger budget it keeps that validation and its best weights
    (the experiments layer judges each point of a curve so).
    progress: a live loss plot in a notebook, a progress bar in a terminal, a log line every
    100 steps elsewhere (`s2s.progress`); default: on, except in CI or with S2S_QUIET=1.
    until: a rule asked after every step, `until(model, history)` -> a reason to stop (e.g. a
    target score reached on held-out sentences; the run then stops as at the end of its
    budget) or "" to go on. The seconds it takes are not training time (`history.seconds`,
    max_minutes): a benchmark can score the model along the way without slowing the run it
    times. One process only; a rule that draws random numbers breaks exact resumes.
    The forward pass runs in `cfg.precision` (resolved for `device`, recorded in the
    history; see `train_step`). Under `torchrun` each process trains on its shard of every
    global batch, and only rank 0 writes and shows progress (`s2s.distributed.Group`).
    At the end the model holds the best validation weights."""
    device = check_device(device, "fit(device=...)")
    data.check_vocabularies(model, "fit")
    group = Group(device)
    device = group.device
    group.refuse_feed_back(cfg.feed_back)
    if until is not None and group.size > 1:
        raise ValueError(f"fit(until=...) runs in one process, not {group.size}: the ranks "
                         "would have to agree on when to stop; train without it under torchrun")
    precision = resolve_precision(cfg.precision, device)
    optimizer, scaler, generator, state = begin(model, cfg, device, precision, checkpoint,
                                                resume)
    history = state.history
    net = group.wrap(model)
    loader = data.loader("train", cfg.batch_size, seed=cfg.seed, bucket=cfg.bucket)
    valid_loader = data.loader("valid", 2 * cfg.batch_size, pairs=cfg.valid_pairs)
    eval_every = cfg.eval_every or len(loader)
    show = (not settings.quiet() if progress is None else progress) and group.main
    display = display_for(show, len(loader))
    start = time.perf_counter() - history.seconds
    learning_rate(cfg, history.steps, history.seconds, len(loader))  # a bad lr_decay fails here

    def seconds() -> float:  # rank 0's clock on every rank
        return group.clock(time.perf_counter() - start)

    def resume_point(position: int) -> ResumeState:
        """Where a resumed run starts; after a validation that only the end of the budget
        asked for, the generator and patience counter from before it (an uninterrupted
        run would not have made it)."""
        rng, bad = unscheduled or (torch.get_rng_state(), state.resume.bad_evals)
        return ResumeState(position, bad, state.resume.loader_rng, rng, generator.get_state(),
                           scaler.state_dict() if scaler.is_enabled() else None)

    done, unscheduled = state.resume.position, None
    history.stopped = out_of_budget(cfg, history, seconds)  # a resumed run may have none left
    while not history.stopped:
        if state.resume.position == 0 and history.epochs_started >= cfg.max_epochs:
            history.stopped = f"max_epochs={cfg.max_epochs}"
            break
        for step_in_epoch, batch in epoch_batches(loader, state):
            result = guarded_step(model, batch, optimizer, cfg, state, checkpoint, device=device,
                                  precision=precision, scaler=scaler, group=group, net=net,
                                  generator=generator, lr=lambda: learning_rate(
                                      cfg, history.steps, seconds(), len(loader)))
            history.steps += 1
            history.step_loss.append(result.loss)
            history.target_tokens += int((batch[3] != PAD).sum())  # the whole global batch's
            history.seconds = time.perf_counter() - start
            done = step_in_epoch % len(loader)
            display.tick(history, step_in_epoch)
            stop, unscheduled = out_of_budget(cfg, history, seconds), None
            if until is not None and not stop:
                if device.type == "cuda":
                    torch.cuda.synchronize()  # the step's kernels are training time
                paused = time.perf_counter()
                stop = ask(until, model, history)
                start += time.perf_counter() - paused  # the rule's time is not training time
            if history.steps % eval_every == 0 or stop:
                if history.steps % eval_every != 0:  # validating draws from the generator
                    unscheduled = (torch.get_rng_state(), state.resume.bad_evals)
                began = time.perf_counter()
                stop = validate(model, valid_loader, device, group, state, cfg.patience) or stop
                save(checkpoint, model, state, optimizer, resume_point(done), group)
                history.validation_seconds += time.perf_counter() - began
                display.update(history, step_in_epoch)
            if stop:
                history.stopped = stop
                break
    history.seconds = time.perf_counter() - start
    display.close(history)
    save(checkpoint, model, state, optimizer, resume_point(done), group,
         last_state=copy.deepcopy(model.state_dict()))
    group.barrier()  # the other ranks wait until the checkpoint is complete
    model.load_state_dict(state.best_state)
    model.eval()
    return history


def ask(until: Rule, model: Seq2Seq, history: History) -> str:
    """`until(model, history)`, checked: a str, "" to go on."""
    reason = until(model, history)
    if not isinstance(reason, str):
        raise TypeError(f"fit(until=...) must return a reason to stop (a str) or \"\" to go "
                        f"on, got {type(reason).__name__} {reason!r}")
    return reason


def begin(model: Seq2Seq, cfg: TrainConfig, device: torch.device, precision: str,
          checkpoint: str | Path | None, resume: bool
          ) -> tuple[torch.optim.Optimizer, torch.amp.GradScaler, torch.Generator, TrainState]:
    """The model on `device` and what trains it: the optimizer, fp16's gradient scaler (a
    pass-through in other precisions), the feed-back draws' generator and the run's state,
    new or restored from `checkpoint`."""
    check_checkpoint_path(checkpoint, "fit(checkpoint=...)")
    model.to(device)
    optimizer = make_optimizer(param_groups(model, cfg.score_lr_scale), cfg.lr, device)
    scaler = grad_scaler(precision, device)
    generator = torch.Generator().manual_seed(cfg.seed)
    state = (TrainState.read(checkpoint, model, optimizer, scaler) if resume else
             TrainState(best_state=copy.deepcopy(model.state_dict())))
    if state.resume.feed_back_rng is not None:
        generator.set_state(state.resume.feed_back_rng)
    state.record_precision(precision)
    return optimizer, scaler, generator, state


def guarded_step(model: Seq2Seq, batch: Batch, optimizer: torch.optim.Optimizer,
                 cfg: TrainConfig, state: TrainState, checkpoint: str | Path | None,
                 **step_args: object) -> StepResult:
    """`train_step`, and on divergence: the model back to its best weights, the error naming
    the step and the checkpoint kept."""
    try:
        result = train_step(model, batch, optimizer, cfg, **step_args)
        check_not_diverging(result.loss, state.history, cfg, str(step_args["precision"]))
        return result
    except FloatingPointError as err:
        model.load_state_dict(state.best_state)
        kept = f"; the last good checkpoint {checkpoint} is kept" if checkpoint else ""
        raise FloatingPointError(f"training diverged at step {state.history.steps + 1}: {err} "
                                 f"The model holds its best weights so far{kept}.") from err
