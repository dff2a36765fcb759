"""The GPU check (tools/gpu_check.py, issue 30), rehearsed on a CPU.

The fast tests cover its machinery in this process: a run over its time limit is stopped with
everything it started, the nbval plugin's record of a cell, chapter 7's design read from its
outputs, the step statuses and the command line. The slow one runs the script at the `ci`
profile on the cheapest parts (one chapter, the benchmarks at their smallest, torchrun with
gloo on a smaller config) with the nmt step given one second, and checks the report: the
failing step is recorded as timed out and every later step still ran."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import gpu_check
from course import ROOT

# a child that starts a grandchild in a session of its own, as a Jupyter kernel is started
FAMILY = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                              start_new_session=True)
print(grandchild.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_run_over_its_limit_is_stopped_with_its_children() -> None:
    start = time.perf_counter()
    done = gpu_check.run([sys.executable, "-c", FAMILY], 3, dict(gpu_check.os.environ))
    assert done["timed_out"] and done["returncode"] != 0
    assert time.perf_counter() - start < 3 + gpu_check.GRACE_S
    grandchild = int(done["stdout"].split()[0])
    deadline = time.perf_counter() + 5
    while gpu_check.alive(grandchild) and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert not gpu_check.alive(grandchild), "the grandchild in its own session outlived the timeout"


def test_a_run_within_its_limit_keeps_its_output() -> None:
    done = gpu_check.run([sys.executable, "-c", "print('{\"a\": 1}'); import sys; sys.exit(3)"],
                         60, dict(gpu_check.os.environ))
    assert (done["returncode"], done["timed_out"]) == (3, False)
    assert gpu_check.last_json("warming up\n" + done["stdout"]) == {"a": 1}
    assert gpu_check.last_json("no JSON here") is None


def outputs(*items: dict) -> list[dict]:
    return list(items)


def test_the_plugin_records_a_cells_text_and_its_error(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cells.jsonl"
    monkeypatch.setenv(gpu_check.CAPTURE_VARIABLE, str(path))
    passed = SimpleNamespace(name="Cell 3", test_outputs=outputs(
        {"output_type": "stream", "name": "stdout", "text": "greedy test BLEU 41.86\n"},
        {"output_type": "execute_result", "data": {"text/plain": "(2, 3)"}}))
    failed = SimpleNamespace(name="Cell 4", test_outputs=outputs(
        {"output_type": "stream", "name": "stdout", "text": "partial\n"},
        {"output_type": "error", "ename": "CheckFailed", "evalue": "✗ BLEU >= 38"}))
    gpu_check.pytest_runtest_makereport(passed, SimpleNamespace(when="call", duration=1.5,
                                                                excinfo=None))
    gpu_check.pytest_runtest_makereport(failed, SimpleNamespace(when="call", duration=0.1,
                                                                excinfo=ValueError("x")))
    gpu_check.pytest_runtest_makereport(failed, SimpleNamespace(when="setup", duration=0,
                                                                excinfo=None))
    cells = gpu_check.read_cells(path)
    assert [(c["cell"], c["passed"], c["error"]) for c in cells] == [
        ("Cell 3", True, None), ("Cell 4", False, "CheckFailed: ✗ BLEU >= 38")]
    assert cells[0]["text"] == "greedy test BLEU 41.86\n(2, 3)\n"
    assert gpu_check.FIGURE.search("greedy test BLEU 41.86")
    assert gpu_check.FIGURE.search("✓ no test source appears in train or valid")
    assert not gpu_check.FIGURE.search("(2, 3)")


def test_chapter_7s_design_comes_from_this_run_else_from_its_stored_outputs() -> None:
    design = {"cell": "gru", "bidirectional": True, "input_feeding": True,
              "attention": "additive"}
    ran = {"profile": "gpu", "steps": {"chapters": {"chapters": {gpu_check.NMT_CHAPTER: {
        "figures": ["s2s 0.1.0 | profile: gpu", f"the capstone's design: {design!r}"]}}}}}
    assert gpu_check.chapter7_design(ran) == (design, "chapter 7's run in this report "
                                                      "(gpu profile)")
    stored, source = gpu_check.chapter7_design({"profile": "gpu", "steps": {}})
    assert stored is not None and stored["cell"] in ("gru", "lstm"), source
    assert "stored" in source


def test_a_steps_status() -> None:
    run = {"timed_out": False, "ok": True}
    assert gpu_check.status({"ok": True, "runs": {"a": run}}) == "passed"
    assert gpu_check.status({"ok": False, "runs": {"a": run}}) == "failed"
    assert gpu_check.status({"ok": False, "runs": {"a": {**run, "timed_out": True}}}) == (
        "timed_out")
    assert gpu_check.status({"ok": False, "limit_reached": True}) == "timed_out"
    assert gpu_check.status({"ok": True, "error": "Traceback ..."}) == "error"


@pytest.mark.parametrize("argv", [["--steps", "chapters,bogus"], ["--steps", ","],
                                  ["--limit", "nmt"], ["--limit", "nmt=soon"],
                                  ["--limit", "bogus=10"], ["--limit", "nmt=0"],
                                  ["--profile", "tpu"]])
def test_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        gpu_check.parse(argv)
    assert exit_.value.code == 2


def test_defaults_and_limits() -> None:
    args = gpu_check.parse(["--limit", "nmt=60", "--steps", "torchrun,nmt"])
    assert (args.profile, args.steps) == ("gpu", ["torchrun", "nmt"])
    assert args.limits == {**gpu_check.LIMITS_S, "nmt": 60.0}
    assert args.bench_steps is None and args.quality_steps is None  # the benchmarks' own
    rehearsal = gpu_check.parse(["--profile", "ci", "--bench-steps", "5"])
    assert rehearsal.bench_steps == 5 and rehearsal.quality_steps == (
        gpu_check.REHEARSAL["quality_steps"])


def test_an_unknown_chapter_is_refused(tmp_path: Path) -> None:
    args = gpu_check.parse(["--chapters", "99_nothing", "--out", str(tmp_path / "r.json")])
    assert gpu_check.check(args, []) == 2
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_ci_rehearsal_records_a_failing_step_and_runs_the_others(tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    config.write_text((ROOT / "configs" / "tiny.toml").read_text()
                      .replace("max_pairs = 2000", "max_pairs = 500")
                      .replace("max_steps = 200", "max_steps = 20")
                      .replace("eval_every = 50", "eval_every = 10"))
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "tools/gpu_check.py", "--profile", "ci", "--chapters", "02_data",
         "--steps", "nmt,chapters,throughput,torchrun", "--limit", "nmt=1",
         "--precisions", "fp32", "--bench-steps", "1", "--bench-repeat", "1",
         "--quality-steps", "0", "--decode-sentences", "4", "--config", str(config),
         "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr  # the nmt step failed
    report = json.loads(out.read_text())
    facts = report["provenance"]
    assert len(facts["source_sha256"]) == 64 and facts["torch"] and facts["date"]
    assert facts["command"].startswith("python tools/gpu_check.py --profile ci")
    assert facts["device"] == "cpu" and facts["capability"] is None
    assert (report["profile"], report["finished"]) == ("ci", True)
    steps = report["steps"]
    assert list(steps) == ["nmt", "chapters", "throughput", "torchrun"]

    nmt = steps["nmt"]  # stopped at its limit, with its record
    assert nmt["status"] == "timed_out" and nmt["runs"]["judge"]["timed_out"]
    assert nmt["design"] and "stored" in nmt["design_source"]

    chapter = steps["chapters"]["chapters"]["02_data"]  # the steps after it ran
    ran = steps["chapters"]["runs"]["02_data"]
    assert chapter["status"] == ("passed" if ran["returncode"] == 0 else "failed")
    assert chapter["cells_passed"] + chapter["cells_failed"] > 0 and chapter["seconds"] > 0
    assert any("profile: ci" in line for line in chapter["figures"]), chapter["figures"]

    throughput = steps["throughput"]
    assert throughput["status"] == "passed", throughput
    assert set(throughput["train_throughput"]["whole_model_target_tok_per_s"]) == {"fp32"}
    sizes = {name: part["batch"] for name, part in throughput["batch_4x"].items()}
    assert sizes == {"fp32 1x": 64, "fp32 4x": 256}
    assert throughput["decode_throughput"]["benchmark"] == "decode_throughput"

    torchrun = steps["torchrun"]
    assert torchrun["status"] == "passed", torchrun
    assert torchrun["train"]["checkpoint_written"]
    assert torchrun["join"]["join"]["backend"] == "gloo"
