"""Training on two processes with torchrun, gloo and DistributedDataParallel (s2s.distributed)
against one process at the same global batch: the same losses step by step, the same
validation losses and weights; only rank 0 writes; the checkpoint loads in one process;
resuming on two processes continues as one process would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from s2s.checkpoints import load_checkpoint, load_history
from s2s.distributed import World, shard, token_weight, world

ROOT = Path(__file__).resolve().parents[1]

# CS224n's model, tiny; batch 33 is odd, so the two ranks' shards differ in size (17 and 16
# rows) and in real tokens: the token weighting has to be right for the losses to agree.
CONFIG = """
[data]
dataset = "fra-eng"
max_len = 6
max_pairs = 2000
min_freq = 1

[model]
kind = "nmt"
embed_size = 16
hidden_size = 16
num_layers = 1
dropout = 0.0
cell = "lstm"
bidirectional = true
input_feeding = true

[train]
lr = 1e-2
batch_size = 33
max_steps = {steps}
eval_every = 5
precision = "fp32"

[output]
checkpoint = "run.pt"
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'utils'}{os.pathsep}{ROOT / 'tests'}",
            "S2S_QUIET": "1", "OMP_NUM_THREADS": "1", **extra}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run(args, text=True, capture_output=True, env=_env(**env), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def two_processes(config: Path, *extra: str, n: int = 2) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node n` (a free loopback port) on the spying worker."""
    return _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc_per_node", str(n), str(ROOT / "tests" / "distributed_worker.py"),
                 "train", str(config), "--device", "cpu", *extra],
                S2S_WRITE_LOG=str(config.parent))


def shards(folder: Path, rank: int) -> list[tuple[int, int, bool]]:
    """(global rows, this rank's rows, real) for every training step of `rank`."""
    lines = (folder / f"shards-rank{rank}.log").read_text().split("\n")
    return [(int(a), int(b), c == "1") for a, b, c in (x.split() for x in lines if x)]


def one_process(config: Path) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "s2s", "train", str(config), "--device", "cpu"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    dist, single = tmp_path_factory.mktemp("two"), tmp_path_factory.mktemp("one")
    for folder in (dist, single):
        (folder / "c.toml").write_text(CONFIG.format(steps=12))
    two_processes(dist / "c.toml")
    one_process(single / "c.toml")
    return dist, single


def test_two_processes_train_as_one_at_the_same_global_batch(runs):
    dist, single = runs
    a, b = load_history(dist / "run.pt"), load_history(single / "run.pt")
    assert a.steps == b.steps == 12
    assert a.step_loss == pytest.approx(b.step_loss, rel=1e-5, abs=1e-6)
    assert a.val_loss == pytest.approx(b.val_loss, rel=1e-5, abs=1e-6)
    assert a.step_loss[-1] < a.step_loss[0] - 0.5  # it learned something
    assert a.target_tokens == b.target_tokens  # the global batches' tokens, not one shard's
    wa, wb = (load_checkpoint(p / "run.pt").state_dict() for p in (dist, single))
    for name in wb:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-4, atol=1e-5, msg=name)
    # ...and each rank really trained on its own share of every batch, not on all of it
    first, second = shards(dist, 0), shards(dist, 1)
    assert len(first) == len(second) == 12
    assert first[0][:2] == (33, 17) and second[0][:2] == (33, 16)
    for (rows, a, real_a), (rows_b, b, real_b) in zip(first, second, strict=True):
        assert rows == rows_b and a + b == rows and a - b in (0, 1) and real_a and real_b


def test_only_rank_0_writes_and_the_checkpoint_loads_in_one_process(runs):
    dist, single = runs
    assert not (dist / "rank1.log").exists(), "rank 1 wrote a checkpoint"
    writes = (dist / "rank0.log").read_text().splitlines()
    validations = load_history(dist / "run.pt").val_steps
    assert validations == [5, 10, 12]  # every 5 steps and at the end of the budget
    assert len(writes) == len(validations) + 1  # after each validation, and the last state
    assert {Path(p).name for p in writes} == {"run.pt"}
    assert world() == World(0, 1)  # this process is not in any group
    model = load_checkpoint(dist / "run.pt")
    reference = load_checkpoint(single / "run.pt")
    from s2s import translate
    sentences = ["i am tired .", "he is here .", "we are late ."]
    assert translate(model, sentences, beam_size=3) == translate(reference, sentences,
                                                                 beam_size=3)


def test_resume_on_two_processes_continues_as_one_process(runs, tmp_path):
    dist, _ = runs
    resumed = tmp_path / "two"
    resumed.mkdir()
    (resumed / "c.toml").write_text(CONFIG.format(steps=20))
    (resumed / "run.pt").write_bytes((dist / "run.pt").read_bytes())
    two_processes(resumed / "c.toml", "--resume")
    straight = tmp_path / "one"
    straight.mkdir()
    (straight / "c.toml").write_text(CONFIG.format(steps=20))
    one_process(straight / "c.toml")
    a, b = load_history(resumed / "run.pt"), load_history(straight / "run.pt")
    assert a.steps == b.steps == 20
    assert a.step_loss == pytest.approx(b.step_loss, rel=1e-5, abs=1e-6)
    # the first run's budget ended at step 12 with a validation, which the resumed run keeps
    assert a.val_steps == [5, 10, 12, 15, 20] and b.val_steps == [5, 10, 15, 20]
    assert [v for s, v in zip(a.val_steps, a.val_loss, strict=True) if s != 12] == pytest.approx(
        b.val_loss, rel=1e-5, abs=1e-6)


PLACEHOLDER = CONFIG.replace("batch_size = 33", "batch_size = 905").replace(
    "eval_every = 5", "eval_every = 3")


def test_a_rank_without_rows_trains_on_a_placeholder_weighted_zero(tmp_path):
    """1,812 training pairs in batches of 905: every epoch ends with a batch of 2 rows, so on
    three processes rank 2 has none: it runs a placeholder row whose loss weighs 0, and the
    run still equals one process's."""
    three, one = tmp_path / "three", tmp_path / "one"
    for folder in (three, one):
        folder.mkdir()
        (folder / "c.toml").write_text(PLACEHOLDER.format(steps=3))  # one epoch: 905, 905, 2
    two_processes(three / "c.toml", n=3)
    one_process(one / "c.toml")
    last = shards(three, 2)
    assert (2, 1, False) in last, last  # the 2-row batch: rank 2 had a placeholder
    assert [r for r, _, _ in last] == [r for r, _, _ in shards(three, 0)]
    a, b = load_history(three / "run.pt"), load_history(one / "run.pt")
    assert a.step_loss == pytest.approx(b.step_loss, rel=1e-5, abs=1e-6)
    assert a.val_loss == pytest.approx(b.val_loss, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("mask_loss", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("size", [2, 3, 8])
def test_weighted_shard_gradients_add_up_to_the_global_batchs(mask_loss, smoothing, size):
    """What fit does on each rank, done here rank after rank: the weighted shard losses'
    gradients, averaged over ranks as DDP averages them, equal the whole batch's gradient —
    with and without the loss mask, with label smoothing, and with more ranks than rows
    (size 8 > 7 rows: a placeholder)."""
    from s2s.distributed import counted_targets
    from s2s.models import ModelConfig, build_model
    from s2s.train import sequence_loss
    from tiny import tiny_data

    data = tiny_data()
    torch.manual_seed(0)
    model = build_model(ModelConfig("nmt", len(data.src_vocab), len(data.tgt_vocab),
                                    embed_size=8, hidden_size=8, num_layers=1, dropout=0.0,
                                    cell="lstm", bidirectional=True, input_feeding=True),
                        data.src_vocab, data.tgt_vocab).double()
    batch = next(iter(data.loader("train", 7, bucket=False)))

    def gradient(src, src_len, tgt_in, tgt_out, weight=1.0):
        model.zero_grad()
        loss = sequence_loss(model(src, src_len, tgt_in), tgt_out, mask=mask_loss,
                             label_smoothing=smoothing)
        (loss * weight).backward()
        return [p.grad.clone() for p in model.parameters()]

    expected = gradient(*batch)
    parts = [shard(batch, World(rank, size)) for rank in range(size)]
    counts = [counted_targets(rows[3], mask_loss, real) for rows, real in parts]
    assert counts.count(0) == max(0, size - 7)
    summed = [torch.zeros_like(g) for g in expected]
    for rank, ((rows, _), n) in enumerate(zip(parts, counts, strict=True)):
        weight = token_weight(n, sum(counts), World(rank, size))
        for total, g in zip(summed, gradient(*rows, weight=weight), strict=True):
            total += g / size  # DDP: the mean over ranks
    for total, g in zip(summed, expected, strict=True):
        torch.testing.assert_close(total, g, rtol=1e-9, atol=1e-12)


def test_a_shard_takes_every_size_th_row_and_an_empty_one_a_placeholder():
    batch = (torch.arange(5)[:, None].expand(5, 3), torch.arange(5))
    (rows, ids), real = shard(batch, World(1, 2))
    assert real and ids.tolist() == [1, 3] and rows[:, 0].tolist() == [1, 3]
    (_, ids), real = shard((batch[0][:1], batch[1][:1]), World(1, 2))
    assert not real and ids.tolist() == [0]  # one row, two ranks: rank 1 has none
    # weights: (17 tokens of 33 on rank 0, 16 on rank 1) times 2 ranks sum to 2 (DDP halves)
    assert token_weight(17, 33, World(0, 2)) + token_weight(16, 33, World(1, 2)) == \
        pytest.approx(2.0)
    assert token_weight(0, 33, World(1, 2)) == 0.0


def test_join_reads_the_device_from_s2s_device(monkeypatch):
    """Under torchrun, `join` takes S2S_DEVICE when no device is given (through
    s2s.settings), and refuses one that is not cpu or cuda before joining anything."""
    from s2s.distributed import join

    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("S2S_DEVICE", "tpu")
    with pytest.raises(ValueError, match="device='tpu': under torchrun give cpu or cuda"):
        join()
