"""Checkpoints: a training run on disk, and the `History` it records.

A checkpoint holds the best weights, the model's config and vocabularies, the last weights
and the optimizer state, the `History`, and the `ResumeState` an exact resume needs (see
`s2s.train.fit`). A subword vocabulary (`s2s.subwords.SubwordVocab`) is stored with its
sentencepiece model's bytes in its JSON, so such a checkpoint translates raw text without the
data or the cache. `write_checkpoint` writes one atomically; `save_checkpoint` writes a model
without an optimizer; `read_checkpoint` reads one (with `weights_only=True`) as a dictionary;
`load_checkpoint` rebuilds the best model, refusing one whose config or vocabularies differ
from what the caller expects (`check_matches`); `CheckpointError` names a file that cannot be
used.
"""

from __future__ import annotations

import math
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from s2s.models import ModelConfig, Seq2Seq, build_model
from s2s.runtime import check_device
from s2s.vocab import Vocab

CHECKPOINT_FORMAT = 1


@dataclass
class History:
    """What a run of `fit` records (and returns); every checkpoint stores it."""

    step_loss: list[float] = field(default_factory=list)  # training loss of every step
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)  # masked, per validation
    steps: int = 0
    epochs_started: int = 0
    seconds: float = 0.0
    validation_seconds: float = 0.0  # the part of `seconds` spent validating and checkpointing
    target_tokens: int = 0
    best_val: float = math.inf
    stopped: str = ""
    precision: str = ""  # what training ran in (fp32, bf16, fp16); "" before it was recorded

    @property
    def tokens_per_second(self) -> float:
        return self.target_tokens / max(self.seconds, 1e-9)


@dataclass
class ResumeState:
    """What an exact resume needs besides the weights, the optimizer and the history: where
    in the epoch the run was, the patience counter, and the random generators' states."""

    position: int = 0  # batches of the current epoch trained
    bad_evals: int = 0  # validations without improvement, for early stopping
    loader_rng: torch.Tensor | None = None  # the generator that shuffles plain batches
    torch_rng: torch.Tensor | None = None  # torch's global generator (dropout)
    feed_back_rng: torch.Tensor | None = None  # the feed-back draws' generator
    scaler: dict | None = None  # fp16's GradScaler state; None in other precisions

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> ResumeState:
        return cls(**{k: saved.get(k) for k in ("loader_rng", "torch_rng", "feed_back_rng",
                                                "scaler")},
                   position=saved["position"], bad_evals=saved["bad_evals"])


def _cpu(state: dict) -> dict:
    return {k: v.detach().cpu() for k, v in state.items()}


def write_checkpoint(path: str | Path, model: Seq2Seq, best_state: dict,
                     optimizer: torch.optim.Optimizer | None, history: History,
                     last_state: dict | None = None, resume: ResumeState | None = None) -> None:
    """Save a checkpoint: the best weights `best_state`, the last ones (default: the
    model's), the optimizer, the history and the resume state. Without an optimizer (a model
    saved outside training) a resumed run starts a fresh one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": model.config.to_dict(),
        "src_vocab": model.src_vocab.to_json(),
        "tgt_vocab": model.tgt_vocab.to_json(),
        "model_state": _cpu(best_state),
        "last_state": _cpu(last_state or model.state_dict()),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "history": asdict(history),
    }
    if resume is not None:
        payload["resume"] = resume.to_dict()
    # A temporary name of this process's own, in the same folder: two processes (or threads)
    # writing the same checkpoint never write into, rename or delete each other's file.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)  # atomic: a crash never leaves half a checkpoint
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or an interrupt leaves no stray file
        raise


def check_checkpoint_path(path: str | Path | None, where: str) -> None:
    """Refuse, before any work, a checkpoint path that cannot be written: a folder, or one
    under a file (a regular file where a folder of its path should be)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{where}={str(path)!r} is a folder: name a file in it, e.g. "
                                f"{str(path / 'model.pt')!r}")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"{where}={str(path)!r}: {parent} is a file, not a "
                                     "folder, so nothing can be written under it: choose "
                                     "another path")


def save_checkpoint(path: str | Path, model: Seq2Seq, history: History | None = None) -> None:
    """Save a model (weights, config, vocabularies) that `load_checkpoint` can rebuild; no
    optimizer state (`fit(..., resume=True)` from it starts a fresh optimizer)."""
    write_checkpoint(path, model, model.state_dict(), None, history or History())


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: truncated, corrupt, or not an s2s checkpoint.
    The message names the file; the error torch raised is chained (`__cause__`)."""


def _starts_like_a_zip(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint at `path` as written (tensors on the CPU); `CheckpointError` when it is
    unreadable or not an s2s checkpoint."""
    if Path(path).is_dir():
        raise IsADirectoryError(f"the checkpoint {path} is a folder: pass the .pt file in it "
                                "that fit or save_checkpoint wrote")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, PermissionError):
        raise  # their message names the path already
    except Exception as err:  # torch, zipfile, pickle and OS errors all mean: unreadable
        # torch's own message stays in __cause__: it can advise weights_only=False, which
        # would run whatever code an untrusted file holds.
        what = ("is truncated or corrupt (an interrupted copy, a full disk?): delete it and "
                "train again, or restore it from a copy" if _starts_like_a_zip(path) else
                "is not a checkpoint at all (torch saves zip archives): pass a file written "
                "by fit or save_checkpoint")
        raise CheckpointError(f"cannot read the checkpoint {path} ({type(err).__name__}): it "
                              f"{what}") from err
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an s2s checkpoint (format {CHECKPOINT_FORMAT}): "
                              "pass a file written by fit or save_checkpoint")
    return saved


def check_matches(saved: dict, config: ModelConfig | None, src_vocab: Vocab | None,
                  tgt_vocab: Vocab | None, path: str | Path) -> None:
    """Refuse a read checkpoint whose model config or vocabularies differ from the expected
    ones (None: no expectation), saying what differs."""
    if config is not None:
        stored = saved["model_config"]
        wanted = config.to_dict()
        diff = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v}
        if diff:
            details = ", ".join(f"{k}: checkpoint {a!r} vs expected {b!r}"
                                for k, (a, b) in diff.items())
            raise ValueError(f"checkpoint {path} was trained with another model config "
                             f"({details}); train a new one or load it without expectations")
    for name, vocab in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab)):
        if vocab is not None and Vocab.from_json(saved[name]) != vocab:
            raise ValueError(f"checkpoint {path} has a different {name.replace('_', ' ')}ulary "
                             "than the data it is used with (other corpus, split, min_freq or "
                             "max_len): rebuild the data as it was, or retrain")


def check_checkpoint_file(path: object, where: str) -> None:
    """Refuse, with the argument's name, a checkpoint path that is not a path at all (None, a
    number, bytes) or is empty (which would mean the current folder)."""
    if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
        raise TypeError(f"{where} must be the path of a checkpoint file (a str or a Path), got "
                        f"{path!r:.60} ({type(path).__name__})")
    if not str(path).strip():
        raise ValueError(f"{where} is empty: pass the path of the .pt file that fit or "
                         "save_checkpoint wrote")


def _check_expectation(name: str, value: object, kind: type, what: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"load_checkpoint({name}=...) must be {what} or None (no expectation), "
                        f"got {type(value).__name__}")


CHECKPOINT_KEYS = ("model_config", "src_vocab", "tgt_vocab", "model_state")


def load_checkpoint(path: str | Path, *, config: ModelConfig | None = None,
                    src_vocab: Vocab | None = None, tgt_vocab: Vocab | None = None,
                    device: torch.device | str = "cpu") -> Seq2Seq:
    """Rebuild the best model saved at `path` (read with `weights_only=True`).

    Given an expected config or vocabularies, a checkpoint that does not match is refused
    with an error that says what differs."""
    check_checkpoint_file(path, "load_checkpoint(path=...)")
    _check_expectation("config", config, ModelConfig, "a ModelConfig")
    _check_expectation("src_vocab", src_vocab, Vocab, "a Vocab")
    _check_expectation("tgt_vocab", tgt_vocab, Vocab, "a Vocab")
    device = check_device(device, "load_checkpoint(device=...)")
    saved = read_checkpoint(path)
    missing = [key for key in CHECKPOINT_KEYS if key not in saved]
    if missing:
        raise CheckpointError(f"the checkpoint {path} is damaged: it has no "
                              f"{', '.join(missing)}. Delete it and train again")
    check_matches(saved, config, src_vocab, tgt_vocab, path)
    try:
        model = build_model(ModelConfig.from_dict(saved["model_config"]),
                            Vocab.from_json(saved["src_vocab"]),
                            Vocab.from_json(saved["tgt_vocab"]))
        model.load_state_dict(saved["model_state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"the checkpoint {path} is damaged: {type(err).__name__}: "
                              f"{str(err)[:200]}. Delete it and train again") from err
    return model.to(device).eval()


def load_history(path: str | Path) -> History:
    """The `History` stored in the checkpoint at `path`."""
    check_checkpoint_file(path, "load_history(path=...)")
    saved = read_checkpoint(path)
    try:
        return History(**saved["history"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"the checkpoint {path} has no readable history "
                              f"({type(err).__name__}: {str(err)[:200]}): it is damaged, or "
                              "was not written by fit or save_checkpoint") from err
