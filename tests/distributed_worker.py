"""Run by tests/test_distributed.py under torchrun: `python -m s2s train` as each rank runs it,
with two spies that record, per rank, in $S2S_WRITE_LOG: every checkpoint write
(rank<R>.log), and for every training step the global batch's rows, this rank's rows and
whether they are real or a placeholder (shards-rank<R>.log)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import s2s.distributed
import s2s.train
from s2s.cli import main

_real_write = s2s.train.write_checkpoint


def _spy(path, *args, **kwargs):
    log = Path(os.environ["S2S_WRITE_LOG"]) / f"rank{os.environ['RANK']}.log"
    with log.open("a") as f:
        f.write(f"{path}\n")
    return _real_write(path, *args, **kwargs)


_real_shard = s2s.distributed.shard


def _shard_spy(batch, w):
    rows, real = _real_shard(batch, w)
    log = Path(os.environ["S2S_WRITE_LOG"]) / f"shards-rank{os.environ['RANK']}.log"
    with log.open("a") as f:
        f.write(f"{batch[0].shape[0]} {rows[0].shape[0]} {int(real)}\n")
    return rows, real


s2s.train.write_checkpoint = _spy
s2s.distributed.shard = _shard_spy

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
