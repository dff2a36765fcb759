"""The model cache under concurrency and damage: two processes asking for the same model at
once train it once and both get it; a truncated or corrupt cache file is reported and trained
again; checkpoint writers never share a temporary file."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from pathlib import Path

import pytest
import torch
from filelock import FileLock

import cache_race
from s2s import train, zoo
from s2s.checkpoints import load_checkpoint, save_checkpoint
from s2s.train import TrainConfig
from tiny import tiny_data, tiny_model

ROUNDS = 10


def cache_files(cache: Path) -> list[str]:
    """Every file under the cache folder, relative to it."""
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())


def only_the_model_and_its_lock(cache: Path, path: Path) -> bool:
    """The cache holds the finished model and its lock file, and nothing else: no partial
    checkpoint, no temporary file."""
    return cache_files(cache) == [f"locks/{path.name}.lock", f"models/{path.name}"]


def test_two_processes_asking_for_the_same_model_at_once(tmp_path):
    """Ten rounds, each in a fresh cache folder: two processes (spawned, sharing nothing but
    the folder) call cached_model for the same key at the same moment. One trains, the other
    waits and loads what it made: same weights, no crash, one intact file, nothing left over."""
    ctx = multiprocessing.get_context("spawn")
    caches = [tmp_path / f"round{i}" for i in range(ROUNDS)]
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=cache_race.race, args=([str(c) for c in caches], barrier,
                                                          results), daemon=True)
               for _ in range(2)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    got: list[tuple] = []
    try:
        deadline = time.monotonic() + 300
        while len(got) < 2 * ROUNDS and time.monotonic() < deadline:
            try:
                got.append(results.get(timeout=1))
            except queue.Empty:
                dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                assert not dead, f"a racing process died (exit codes {dead}); results: {got}"
        assert len(got) == 2 * ROUNDS, f"timed out with {len(got)} results: {got}"
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    seconds = time.perf_counter() - start

    failures = [f"{cache}:\n{printed}\n{error}" for cache, _, _, _, printed, error in got
                if error is not None]
    assert not failures, f"{len(failures)} calls failed, the first: {failures[0]}"
    data = tiny_data()
    config = tiny_model(data).config
    waited = 0
    for cache in caches:
        pair = [r for r in got if r[0] == str(cache)]
        assert len(pair) == 2 and pair[0][1] != pair[1][1], pair  # two processes
        assert pair[0][2] == pair[1][2], "the two processes got different weights"
        assert [r[3] for r in pair] == [cache_race.RACE_CFG["max_steps"]] * 2
        printed = [r[4] for r in pair]
        assert sum("loaded race from the cache" in p for p in printed) == 1, printed  # 1 trains
        waited += sum("waiting for another process that is training race" in p
                      for p in printed)
        (path,) = (cache / "models").iterdir()
        assert path.name.startswith("race-") and ".partial" not in path.name
        assert only_the_model_and_its_lock(cache, path), cache_files(cache)
        model = load_checkpoint(path, config=config, src_vocab=data.src_vocab,
                                tgt_vocab=data.tgt_vocab)
        assert cache_race.weights_digest(model) == pair[0][2]
    print(f"\n{ROUNDS} rounds of two processes in {seconds:.1f} s (including their start); "
          f"a process waited for the other in {waited} of them")
    assert waited >= 1, "no process ever waited: the two calls never overlapped"


def tiny_setup():
    data = tiny_data()
    return data, tiny_model(data).config, TrainConfig(max_steps=10, eval_every=5, batch_size=32)


def test_a_call_that_must_wait_says_so_and_loads_what_the_other_made(tmp_path, monkeypatch,
                                                                      capsys):
    """While another holder has the entry's lock, cached_model prints that it waits; when the
    holder leaves a finished model, it loads that model instead of training."""
    data, config, cfg = tiny_setup()
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path / "elsewhere"))
    made, _ = zoo.cached_model("tiny", config, data, cfg, profile="ci", progress=False)
    finished = zoo.model_cache_path("tiny", config, data, cfg, "ci")
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path / "cache"))
    path = zoo.model_cache_path("tiny", config, data, cfg, "ci")
    lock_path = zoo._lock_path(path)
    lock_path.parent.mkdir(parents=True)
    holder = FileLock(lock_path)
    holder.acquire()  # "another process" is training
    calls, outcome = [], {}
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: calls.append(1))

    def ask() -> None:
        try:
            outcome["model"] = zoo.cached_model("tiny", config, data, cfg, profile="ci")[0]
        except BaseException as err:
            outcome["error"] = err

    asker = threading.Thread(target=ask)
    asker.start()
    printed = ""
    deadline = time.monotonic() + 30
    while "waiting" not in printed and time.monotonic() < deadline:
        time.sleep(0.05)
        printed += capsys.readouterr().out
    assert f"waiting for another process that is training tiny ({path.name})" in printed
    assert asker.is_alive()  # still waiting
    path.parent.mkdir(parents=True)
    path.write_bytes(finished.read_bytes())  # the holder's finished model
    holder.release()
    asker.join(timeout=30)
    printed += capsys.readouterr().out
    assert "error" not in outcome, outcome.get("error")
    assert calls == [] and f"loaded tiny from the cache ({path.name})" in printed
    assert cache_race.weights_digest(outcome["model"]) == cache_race.weights_digest(made)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage(path: Path) -> None:
    path.write_bytes(b"not a checkpoint at all" * 10)


def empty(path: Path) -> None:
    path.write_bytes(b"")


def not_s2s(path: Path) -> None:
    torch.save({"weights": torch.zeros(1)}, path)


@pytest.mark.parametrize("damage", [truncate, garbage, empty, not_s2s],
                         ids=["truncated", "garbage bytes", "empty file", "not an s2s file"])
def test_a_damaged_cache_file_is_reported_and_trained_again(tmp_path, monkeypatch, capsys,
                                                            damage):
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    data, config, cfg = tiny_setup()
    first, _ = zoo.cached_model("tiny", config, data, cfg, profile="ci", progress=False)
    path = zoo.model_cache_path("tiny", config, data, cfg, "ci")
    damage(path)
    capsys.readouterr()
    again, history = zoo.cached_model("tiny", config, data, cfg, profile="ci", progress=False)
    printed = capsys.readouterr().out
    (line,) = [p for p in printed.splitlines() if "truncated or corrupt" in p]
    assert line.startswith(f"the cached tiny {path} is truncated or corrupt (")
    assert line.endswith("training it again to replace it")
    assert history.steps == 10 and "loaded" not in printed  # trained again, not loaded
    assert cache_race.weights_digest(again) == cache_race.weights_digest(first)
    assert only_the_model_and_its_lock(tmp_path, path), cache_files(tmp_path)
    third, _ = zoo.cached_model("tiny", config, data, cfg, profile="ci")
    assert capsys.readouterr().out == f"loaded tiny from the cache ({path.name})\n"
    assert cache_race.weights_digest(third) == cache_race.weights_digest(first)


def test_checkpoint_writers_never_share_a_temporary_file(tmp_path):
    """Four threads saving the same checkpoint over and over: each write has a temporary file
    of its own, so none fails and the file is always a whole checkpoint."""
    model = tiny_model(tiny_data())
    path = tmp_path / "m.pt"
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(10):
                save_checkpoint(path, model)
        except BaseException as err:
            errors.append(err)

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert errors == []
    assert cache_files(tmp_path) == ["m.pt"]
    load_checkpoint(path)


def test_a_failed_checkpoint_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    model = tiny_model(tiny_data())
    path = tmp_path / "m.pt"
    save_checkpoint(path, model)
    before = path.read_bytes()

    def full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train.torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, model)
    assert cache_files(tmp_path) == ["m.pt"] and path.read_bytes() == before
