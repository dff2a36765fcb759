"""The course's trained models: the configs the chapters use, and a cache that trains once.

A chapter that needs a model an earlier chapter trained gets it from here, never from a file
another notebook happened to leave behind:

* `profile_config` / `profile_train_config`: a model / training config at a profile's sizes;
* `cached_model`: train a model once and keep it in the cache folder, keyed by (name, model
  config, data parameters, training config, profile, cache version); later calls, from any
  chapter, load it (several processes at once too: one trains, the others wait and load);
* `attention_model`: chapter 4's best model, which chapter 5 reuses.

The cache version (`s2s.cache_version.CACHE_VERSION`) is raised by hand when a change alters
what training produces; comments, docstrings and cosmetic edits never change a cache key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from s2s.checkpoints import CheckpointError, History, load_checkpoint, load_history
from s2s.data import TranslationData
from s2s.models import ModelConfig, Seq2Seq, build_model
from s2s.profiles import Profile
from s2s.runtime import seed_everything
from s2s.train import TrainConfig, fit


def code_version() -> str:
    """The cache version of training (`s2s.cache_version.CACHE_VERSION`), raised by hand when
    a change alters what training produces; comments and docstrings never change it."""
    from s2s.cache_version import CACHE_VERSION

    return f"v{CACHE_VERSION}"


# Settings added to TrainConfig after cache version 3, with their defaults: they enter a cached
# model's key only when set to something else, so adding a setting keeps every cached model.
ADDED_SETTINGS = {"score_lr_scale": 1.0, "warmup": 0, "valid_pairs": None}


def train_key(cfg: TrainConfig) -> dict:
    """The training settings as a cached model's key holds them."""
    return {k: v for k, v in asdict(cfg).items()
            if k not in ADDED_SETTINGS or v != ADDED_SETTINGS[k]}


def model_cache_path(name: str, config: ModelConfig, data: TranslationData, cfg: TrainConfig,
                     profile: str) -> Path:
    """Where `cached_model` keeps the model `name` trained with these settings: the cache
    folder's models/<name>-<16 hex of the key>.pt."""
    from s2s.download import cache_dir

    key = json.dumps({"name": name, "model": config.to_dict(), "data": data.params,
                      "train": train_key(cfg), "profile": profile, "code": code_version()},
                     sort_keys=True)
    return cache_dir() / "models" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def cached_model(name: str, config: ModelConfig, data: TranslationData, cfg: TrainConfig, *,
                 profile: str, device: torch.device | str = "cpu",
                 progress: bool | None = None) -> tuple[Seq2Seq, History]:
    """Train a model once and keep it in the cache; later calls (from any chapter) load it.

    profile: the profile's name (part of the key). The key is (name, model config, data
    parameters, training config, profile, code version), so a chapter never uses a model
    trained with other settings. Returns (model with its best weights, its training history).

    Safe to call from several processes at once (two notebooks, a notebook and a benchmark):
    a file lock per key lets one of them train while the others wait (they say so), then
    load what it made. A truncated or corrupt cache file is reported and trained again."""
    if isinstance(profile, Profile):
        raise TypeError(f"cached_model takes the profile's name: pass profile={profile.name!r} "
                        "(profile.name), not the Profile")
    path = model_cache_path(name, config, data, cfg, profile)
    cached = _load_cached(name, path, config, data, device, report=False)  # no lock needed:
    if cached is not None:  # a finished file is only ever replaced whole (atomic rename)
        return cached
    with _cache_lock(name, path):
        # Another process may have finished (or repaired) the file while this one waited.
        cached = _load_cached(name, path, config, data, device, report=True)
        if cached is not None:
            return cached
        seed_everything(cfg.seed)
        model = build_model(config, data.src_vocab, data.tgt_vocab)
        partial = path.with_name(path.stem + ".partial.pt")  # never mistaken for a finished model
        history = fit(model, data, cfg, device=device, checkpoint=partial, progress=progress)
        partial.replace(path)  # replaces a corrupt file, if there was one
    return model, history


def _load_cached(name: str, path: Path, config: ModelConfig, data: TranslationData,
                 device: torch.device | str, *,
                 report: bool) -> tuple[Seq2Seq, History] | None:
    """The model and history cached at `path`, or None when there is no file or it cannot be
    read (`report`: then say so, naming the file, before it is trained again)."""
    if not path.exists():
        return None
    try:
        model = load_checkpoint(path, config=config, src_vocab=data.src_vocab,
                                tgt_vocab=data.tgt_vocab, device=device)
        history = load_history(path)
    except CheckpointError as err:
        if report:
            cause = err.__cause__ if err.__cause__ is not None else err
            why = " ".join(f"{type(cause).__name__}: {cause}".split())
            why = why if len(why) <= 100 else why[:99] + "…"
            print(f"the cached {name} {path} is truncated or corrupt ({why}); training it "
                  "again to replace it", flush=True)
        return None
    print(f"loaded {name} from the cache ({path.name})")
    return model, history


def _lock_path(path: Path) -> Path:
    """The lock file of the cache entry `path` (cache folder/models/X.pt): locks/X.pt.lock."""
    return path.parent.parent / "locks" / f"{path.name}.lock"


@contextmanager
def _cache_lock(name: str, path: Path) -> Iterator[None]:
    """Hold the lock of the cache entry `path` (its file is in the cache folder's locks/, so
    models/ holds only models); say so when another process holds it and this one waits.

    The lock is the operating system's (flock): it is released when its process ends,
    even by a crash or a kill, so a dead process never blocks the cache."""
    lock_path = _lock_path(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for another process that is training {name} ({path.name}); this one "
              "will load it from the cache when it is done", flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def profile_config(kind: str, profile: Profile, data: TranslationData,
                   **changes: object) -> ModelConfig:
    """The model config of `kind` at a profile's sizes, for `data`'s vocabularies and
    tokenizers (English->Chinese data gives ("word", "zh"), so outputs are joined without
    spaces); `changes` set or override fields (`bidirectional=True`, `cell="lstm"`, ...).
    With "spm" (subword) data, max_len is the data's longest sentence in pieces (the profile's
    max_len counts words): `TranslationData.model_max_len`."""
    max_len = data.model_max_len(profile.max_len)
    sizes = dict(embed_size=profile.embed_size, hidden_size=profile.hidden_size,
                 num_layers=profile.num_layers, dropout=profile.dropout, cell="gru",
                 max_len=max_len, tokenizers=tuple(data.tokenizers))
    return ModelConfig(kind, len(data.src_vocab), len(data.tgt_vocab), **{**sizes, **changes})


def profile_train_config(profile: Profile, **changes: object) -> TrainConfig:
    """The training config the chapters use at a profile's sizes; `changes` override fields."""
    base = TrainConfig(lr=profile.lr, batch_size=profile.batch_size,
                       eval_every=profile.eval_every, patience=None,
                       precision=profile.precision)
    return TrainConfig(**{**asdict(base), **changes})


def attention_model(profile: Profile, data: TranslationData,
                    device: torch.device | str = "cpu") -> tuple[Seq2Seq, History]:
    """Chapter 4's best model — bidirectional GRU encoder, Luong decoder with the additive
    score — trained for the profile's `attention_minutes`, the learning rate
    falling linearly to 0 over the last 40 % of them (once; later calls load it from the
    cache)."""
    config = profile_config("luong", profile, data, bidirectional=True, attention="additive")
    cfg = profile_train_config(profile, max_minutes=profile.attention_minutes, patience=3,
                               lr_decay=0.4)
    return cached_model("ch04-luong-long", config, data, cfg, profile=profile.name,
                        device=device)


def transformer_model(profile: Profile, data: TranslationData,
                      device: torch.device | str = "cpu") -> tuple[Seq2Seq, History]:
    """A Transformer at the profile's width (embeddings as wide: the model adds positions to
    them) and depth, pre-norm, 4 heads, trained as `attention_model` is (the profile's
    `attention_minutes`, lr falling to 0 over the last 40 %), after a warm-up of 200 steps;
    once, then loaded from the cache. The benchmarks' Transformer."""
    config = profile_config("transformer", profile, data, embed_size=profile.hidden_size,
                            num_heads=4, norm_first=True)
    cfg = profile_train_config(profile, max_minutes=profile.attention_minutes, patience=3,
                               lr_decay=0.4, warmup=200)
    return cached_model("bench-transformer", config, data, cfg, profile=profile.name,
                        device=device)
