"""Training on several processes with PyTorch's own engine: `torchrun` starts them,
`torch.distributed` connects them (NCCL between GPUs, gloo on CPUs), and
`DistributedDataParallel` averages the gradients. Nothing here starts or watches a process.

    torchrun --nproc_per_node 2 -m s2s train configs/tiny.toml          # one machine
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --master_port 29500 \\
             --nproc_per_node 4 -m s2s train CONFIG                      # on each machine

How `s2s.train.fit` uses it, through one `Group` object, when a process group is set up
(`join`):

* every rank builds the same length-bucketed global batches of `TrainConfig.batch_size` pairs
  in the same seeded order, and trains on its shard of each: rows rank, rank + W, ... (`shard`);
* each rank's loss is weighted by its share of the batch's real target tokens (`token_weight`),
  so that DDP's average of the ranks' gradients is the gradient of the mean loss over the whole
  global batch: W processes at global batch B train as one process at batch B (up to rounding,
  and except dropout's random masks);
* the clock that budgets and schedules training is rank 0's (`broadcast_seconds`), so every
  rank stops at the same step; validation is sharded and summed, so every rank sees the same
  loss and keeps the same best weights;
* only rank 0 writes checkpoints and shows progress; a checkpoint holds the plain model's
  weights and loads in a single process.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor, nn

from s2s import settings


class World(NamedTuple):
    """This process's place among the training processes."""

    rank: int  # 0 .. size-1; rank 0 writes checkpoints and prints
    size: int  # number of processes (1: not distributed)

    @property
    def main(self) -> bool:
        return self.rank == 0


def world() -> World:
    """The process group's rank and size; (0, 1) when no group is set up."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World(0, 1)


def launched_by_torchrun() -> bool:
    """True when `torchrun` (or another launcher with its variables) started several
    processes: WORLD_SIZE > 1 in the environment."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device: str | None = None) -> torch.device:
    """Join the process group `torchrun` describes in the environment (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT, LOCAL_RANK) and return this process's device: cuda:LOCAL_RANK
    with NCCL when CUDA is there (and `device` is not "cpu"), the CPU with gloo otherwise."""
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise RuntimeError(f"distributed training needs ${name}, which torchrun sets: start "
                               "with `torchrun --nproc_per_node N -m s2s train CONFIG`")
    device = device or settings.value("S2S_DEVICE")
    if device not in (None, "cpu", "cuda"):
        raise ValueError(f"device={device!r}: under torchrun give cpu or cuda (each process "
                         "takes the GPU of its LOCAL_RANK)")
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but CUDA is not available: use --device cpu (gloo)")
    local = int(os.environ["LOCAL_RANK"])
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local} but this machine has "
                               f"{torch.cuda.device_count()} GPU(s): lower --nproc_per_node")
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")


def teardown(*, failed: bool = False) -> None:
    """Leave the process group. After a success, wait for every rank first; after a failure
    leave at once, so that the process exits and torchrun stops the others (a barrier here
    would wait for ranks that are themselves waiting in a collective call: a hang)."""
    if dist.is_available() and dist.is_initialized():
        if not failed:
            dist.barrier()
        dist.destroy_process_group()


def shard(batch: tuple[Tensor, ...], w: World) -> tuple[tuple[Tensor, ...], bool]:
    """This rank's rows of a global batch: rows rank, rank + size, ... of every tensor
    (src (B, S), src_len (B,), tgt_in (B, T), tgt_out (B, T) -> B' rows each).

    A batch with fewer rows than ranks leaves some ranks none: those take row 0 and report
    `real=False`, so that their loss can be weighted by 0 (DDP needs every rank to run a
    forward and backward pass). Returns (tensors, real)."""
    rows = torch.arange(w.rank, batch[0].shape[0], w.size)
    real = len(rows) > 0
    if not real:
        rows = torch.zeros(1, dtype=torch.long)
    return tuple(t.index_select(0, rows.to(t.device)) for t in batch), real


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """The sums over all ranks of a few numbers (one all-reduce)."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def counted_targets(tgt_out: Tensor, mask_loss: bool, real: bool) -> int:
    """How many target slots a rank's mean loss averages over: the real tokens of tgt_out
    (B', T) with the masked loss, every slot without it; 0 for a placeholder shard."""
    if not real:
        return 0
    return int((tgt_out != 0).sum()) if mask_loss else tgt_out.numel()


def token_weight(tokens: int, global_tokens: int, w: World) -> float:
    """The factor that turns a rank's mean loss over its `tokens` into its part of the mean
    over the global batch's `global_tokens`, once DDP divides the summed gradients by
    `w.size`: tokens * size / global_tokens."""
    return tokens * w.size / max(global_tokens, 1)


def broadcast_seconds(seconds: float, device: torch.device) -> float:
    """Rank 0's elapsed seconds, on every rank: the one clock of the budget and schedule."""
    t = torch.tensor([seconds], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


class Group:
    """The processes that train one model together, as `fit` sees them: one process (no
    process group: every method is the identity) or torchrun's W processes. It owns what
    differs between the two — the shard of each batch, the weight of each rank's loss, the
    one clock, the sums of validation — so that the training loop has no branches."""

    def __init__(self, device: torch.device) -> None:
        self.world = world()
        self.device = self._check(device) if self.world.size > 1 else device

    @property
    def size(self) -> int:
        return self.world.size

    @property
    def main(self) -> bool:
        """Whether this process writes checkpoints and shows progress (rank 0)."""
        return self.world.main

    def _check(self, device: torch.device) -> torch.device:
        """NCCL needs a CUDA device (the rank's own when no index is given); gloo takes a
        CPU or a GPU."""
        if dist.get_backend() == "nccl" and device.type != "cuda":
            raise ValueError(f"fit(device={str(device)!r}) on {self.size} processes with NCCL: "
                             "NCCL runs between GPUs; pass device='cuda' (each rank takes its "
                             "GPU), or start torchrun with --device cpu for gloo")
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        return device

    def refuse_feed_back(self, feed_back: float) -> None:
        """Feeding back predictions runs the decoder step by step outside DDP."""
        if self.size > 1 and feed_back > 0:
            raise ValueError(f"TrainConfig.feed_back={feed_back}: feeding back the model's own "
                             f"predictions runs the decoder step by step outside "
                             f"DistributedDataParallel, so it cannot train on {self.size} "
                             "processes; set feed_back=0 or train in one process")

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the forward pass runs through: DDP around `model` on several processes
        (it averages the gradients and starts every rank from rank 0's weights); `model`
        itself, whose weights the checkpoints hold, on one."""
        if self.size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, batch: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], bool]:
        """This rank's rows of a global batch (`shard`), and whether they are real rows."""
        return (batch, True) if self.size == 1 else shard(batch, self.world)

    def global_loss(self, loss: Tensor, tgt_out: Tensor, mask_loss: bool,
                    real: bool) -> tuple[Tensor, float]:
        """(the loss to back-propagate, the global batch's mean loss as a number): this
        rank's mean loss over tgt_out (B', T) weighted by its share of the global batch's
        targets, so that DDP's average of the gradients is the global mean's gradient."""
        value = loss.item()
        if self.size == 1:
            return loss, value
        counted = counted_targets(tgt_out, mask_loss, real)
        total, global_counted = all_sum([value * counted, counted], self.device)
        weight = token_weight(counted, int(global_counted), self.world)
        return loss * weight, total / max(global_counted, 1)

    def clock(self, seconds: float) -> float:
        """Rank 0's `seconds` on every rank: all of them schedule and stop alike."""
        return seconds if self.size == 1 else broadcast_seconds(seconds, self.device)

    def mine(self, index: int) -> bool:
        """Whether the `index`-th validation batch is this rank's to measure."""
        return index % self.size == self.world.rank

    def sum(self, values: list[float]) -> list[float]:
        """`values` summed over the ranks (unchanged on one process)."""
        return values if self.size == 1 else all_sum(values, self.device)

    def barrier(self) -> None:
        """Wait for every rank (a no-op on one process)."""
        if self.size > 1:
            dist.barrier()
