"""Two processes asking `s2s.zoo.cached_model` for the same model at the same moment.

`race` runs in a process of its own (started by tests/test_cache_concurrency.py with
multiprocessing's "spawn", so nothing is shared but the cache folder): for each round it waits
at a barrier with the other process, then asks for the tiny model of tests/tiny.py in that
round's fresh cache folder, and reports what it got."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import traceback

import torch

from s2s import zoo
from s2s.train import TrainConfig
from tiny import tiny_data, tiny_model

RACE_CFG = dict(max_steps=20, eval_every=5, batch_size=32)  # a few steps, four checkpoints


def weights_digest(model: torch.nn.Module) -> str:
    """A hash of every weight, bit for bit."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def race(cache_dirs: list[str], barrier, results) -> None:
    """For each folder: meet the other process at `barrier`, call cached_model, put
    (folder, pid, weights digest, steps, what it printed, traceback or None) on `results`."""
    torch.set_num_threads(1)
    data = tiny_data()
    config = tiny_model(data).config
    cfg = TrainConfig(**RACE_CFG)
    for cache in cache_dirs:
        os.environ["S2S_CACHE_DIR"] = cache
        printed = io.StringIO()
        barrier.wait(timeout=120)
        try:
            with contextlib.redirect_stdout(printed):
                model, history = zoo.cached_model("race", config, data, cfg, profile="ci",
                                                  progress=False)
            results.put((cache, os.getpid(), weights_digest(model), history.steps,
                         printed.getvalue(), None))
        except BaseException:  # reported to the test, which fails with it
            results.put((cache, os.getpid(), None, None, printed.getvalue(),
                         traceback.format_exc()))
