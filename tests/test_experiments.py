"""Experiments (s2s.experiments): declarations refused when they are not one-change
comparisons, an interrupted experiment resumed gives the results of an uninterrupted one, and
every results file a chapter cites matches its declaration and the code version."""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from s2s.cache_version import CACHE_VERSION
from s2s.experiments.__main__ import main
from s2s.experiments.declaration import ExperimentError, find_experiments, load_experiment
from s2s.experiments.report import format_report, last_quarter_gain, summarize
from s2s.experiments.results import check_results, cited_results
from s2s.experiments.runner import run_experiment
from s2s.experiments.runs import curve_points, plan, read_json
from tiny import tiny_data

REPO = Path(__file__).resolve().parent.parent

TINY = """\
question = "Does an LSTM reverse words better than a GRU at equal steps?"
chapter = "03_rnn_seq2seq"
seeds = [0, 1, 2]
control = "gru"

[data]
dataset = "tiny"
max_len = 5

[model]
kind = "rnn"
embed_size = 16
hidden_size = 32
num_layers = 1
dropout = 0.1

[train]
max_steps = 12
eval_every = 5
batch_size = 32
lr = 1e-2
precision = "fp32"

[metric]
sentences = 16

[arms.gru]
[arms.lstm]
model.cell = "lstm"
"""

TINY_BEAM = """\
question = "Does beam search beat greedy on the tiny models?"
kind = "decode"
seeds = [0, 1, 2]
control = "greedy"

[source]
experiment = "tiny"
arm = "gru"

[search]
length_penalty = "gnmt"

[metric]
sentences = 16

[arms.greedy]
[arms.beam3]
search.beam_size = 3
"""


def tiny_loader(settings: dict):
    return tiny_data()


def make_root(tmp_path: Path, **declarations: str) -> Path:
    (tmp_path / "experiments").mkdir(parents=True, exist_ok=True)
    for name, text in declarations.items():
        (tmp_path / "experiments" / f"{name}.toml").write_text(text, encoding="utf-8")
    return tmp_path


def run_tiny(root: Path, name: str = "tiny", **kwargs) -> Path | None:
    exp = load_experiment(root / "experiments" / f"{name}.toml")
    return run_experiment(exp, root, device="cpu", load_data=tiny_loader, progress=False,
                          log=lambda line: None, **kwargs)


VOLATILE_RUN = ("train_seconds", "eval_seconds")


def stable(results: dict) -> dict:
    """A results file without what differs between two identical experiments: the date and
    the seconds spent."""
    out = json.loads(json.dumps(results))
    del out["provenance"]["date"]
    for run in out["runs"]:
        for key in VOLATILE_RUN:
            run.pop(key, None)
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    root = make_root(tmp_path_factory.mktemp("whole"), tiny=TINY)
    path = run_tiny(root)
    return read_json(path)


# ---------------------------------------------------------------------------------------------
# Declarations


def declare(tmp_path: Path, text: str, name: str = "tiny"):
    make_root(tmp_path, **{name: text})
    return load_experiment(tmp_path / "experiments" / f"{name}.toml")


def test_a_declaration_gives_every_arm_its_settings_and_its_one_change(tmp_path):
    exp = declare(tmp_path, TINY)
    assert list(exp.arms) == ["gru", "lstm"] and exp.control == "gru"
    assert exp.arms["lstm"].change == {"model.cell": ("gru", "lstm")}
    assert exp.arms["lstm"].settings["train"]["max_steps"] == 12
    assert (exp.metric, exp.sentences, exp.points, exp.test) == ("bleu", 16, 4, "seeds")
    assert curve_points(12, 4) == [3, 6, 9, 12] and curve_points(3, 4) == [1, 2, 3]


@pytest.mark.parametrize("change, message", [
    ('[arms.lstm]\nmodel.cell = "lstm"\nmodel.hidden_size = 64',
     r"\[arms.lstm\] differs from the control 'gru' in 2 settings: model.cell: 'gru' -> "
     r"'lstm'; model.hidden_size: 32 -> 64"),
    ('[arms.lstm]\nmodel.cell = "lstm"\ntrain.lr = 0.001',
     r"in 2 settings: model.cell: .*; train.lr: 0.01 -> 0.001"),
    ('[arms.lstm]\nmodel.cell = "gru"', r"\[arms.lstm\] differs .* in 0 settings"),
    ('[arms.lstm]\nmodel.kind = "luong"\nmodel.attention = "general"\nmodel.hidden_size = 8',
     r"in 2 settings: model.hidden_size: 32 -> 8; model.kind: 'rnn' -> 'luong'"),
])
def test_an_arm_that_changes_more_or_less_than_one_setting_is_refused(tmp_path, change,
                                                                       message):
    text = TINY.replace('[arms.lstm]\nmodel.cell = "lstm"', change)
    with pytest.raises(ExperimentError, match=message) as err:
        declare(tmp_path, text)
    assert "tiny.toml" in str(err.value)


def test_a_change_of_model_kind_brings_the_settings_only_that_kind_takes(tmp_path):
    text = TINY.replace('[arms.lstm]\nmodel.cell = "lstm"',
                        '[arms.luong]\nmodel.kind = "luong"\nmodel.attention = "additive"')
    exp = declare(tmp_path, text)
    assert exp.arms["luong"].change == {"model.attention": ("", "additive"),
                                        "model.kind": ("rnn", "luong")}


def test_a_model_field_added_later_shows_its_real_default_as_the_controls(tmp_path):
    """embed_dropout (added after the first cached models: left out of the defaults so their
    keys stay valid) is True when a declaration leaves it out, not None; declaring the
    default explicitly is no change at all."""
    text = TINY.replace('[arms.lstm]\nmodel.cell = "lstm"',
                        '[arms.plain]\nmodel.embed_dropout = false')
    exp = declare(tmp_path, text)
    assert exp.arms["plain"].change == {"model.embed_dropout": (True, False)}
    same = TINY.replace('[arms.lstm]\nmodel.cell = "lstm"',
                        '[arms.same]\nmodel.embed_dropout = true')
    with pytest.raises(ExperimentError, match="in 0 settings"):
        declare(tmp_path, same)


def test_a_change_to_subwords_brings_their_vocabulary_settings(tmp_path):
    text = TINY.replace('[arms.lstm]\nmodel.cell = "lstm"',
                        '[arms.spm]\ndata.tokenizers = ["spm", "spm"]\ndata.vocab_size = 64\n'
                        'data.joint_vocab = true')
    exp = declare(tmp_path, text)
    assert exp.arms["spm"].change == {"data.joint_vocab": (False, True),
                                      "data.tokenizers": (None, ["spm", "spm"]),
                                      "data.vocab_size": (None, 64)}
    with pytest.raises(ExperimentError, match=r"in 2 settings: .*data.tokenizers.*; "
                                              r"model.hidden_size: 32 -> 64"):
        declare(tmp_path, text + "model.hidden_size = 64\n")
    with pytest.raises(ExperimentError, match=r"tokenizers = \['spm', 'bpe'\] must list two"):
        declare(tmp_path, text.replace('["spm", "spm"]', '["spm", "bpe"]'))


def test_characters_counted_in_words_are_one_change(tmp_path):
    """max_len_counts = "words" measures only a "char" side otherwise: with the change to
    characters it is not a second change; between two character arms it is the one change."""
    text = TINY.replace('[arms.lstm]\nmodel.cell = "lstm"',
                        '[arms.chars]\ndata.tokenizers = ["char", "char"]\n'
                        'data.max_len_counts = "words"')
    exp = declare(tmp_path, text)
    assert exp.arms["chars"].change == {"data.max_len_counts": ("tokens", "words"),
                                        "data.tokenizers": (None, ["char", "char"])}
    by_chars = text.replace("[data]", '[data]\ntokenizers = ["char", "char"]').replace(
        'data.tokenizers = ["char", "char"]\n', "")
    assert declare(tmp_path, by_chars).arms["chars"].change == {
        "data.max_len_counts": ("tokens", "words")}
    with pytest.raises(ExperimentError, match=r"in 2 settings"):
        declare(tmp_path, text + "model.hidden_size = 64\n")


@pytest.mark.parametrize("edit, message", [
    (("[metric]", "[metric]\nsplit = \"valid\""), r"unknown key \[metric\] split"),
    (("[model]", "[modle]"), r"unknown table \[modle\]"),
    (("max_len = 5", 'max_len = 5\nmax_len_counts = "word"'),
     r"\[data\] max_len_counts = 'word': choose one of 'tokens', 'words'"),
    (("hidden_size = 32", "hidden_size = \"32\""),
     r"\[model\] hidden_size = '32' is a str; it must be a int"),
    (("lr = 1e-2", "lr = true"), r"\[train\] lr = True is a bool; it must be a number"),
    (("max_steps = 12", "max_minutes = 1.0"), r"\[train\] max_minutes cannot be set.*steps"),
    (("eval_every = 5", "eval_every = 5\npatience = 3"), r"\[train\] patience cannot be set"),
    (("max_steps = 12\n", ""), r"\[train\] max_steps is missing"),
    (("seeds = [0, 1, 2]", "seeds = [0, 1]"), r"at least 3 distinct seeds"),
    (("seeds = [0, 1, 2]", "seeds = [0, 0, 1]"), r"at least 3 distinct seeds"),
    (('control = "gru"', 'control = "base"'), r"control = 'base' names no arm"),
    (("dropout = 0.1", 'dropout = 0.1\nattention = "additive"'),
     r"\[arms.gru\]: \[model\]: ModelConfig\(kind='rnn'.*attention"),
    (("lr = 1e-2", "lr = -1.0"), r"\[arms.gru\]: \[train\]: TrainConfig.lr must be"),
    (("sentences = 16", "sentences = 5000"), r"\[metric\] sentences = 5000 must be in"),
    (("sentences = 16", "sentences = 16\npoints = 6"), r"points = 6 must be a multiple of 4"),
    (('control = "gru"', 'control = "gru"\nbudget = "minutes"'), r"budget = 'minutes'"),
    (('[arms.lstm]\nmodel.cell = "lstm"', '[arms.lstm]\nmodel.cell = "lstm"\nmetric.name = "x"'),
     r"\[arms.lstm\]: unknown table \[metric\]"),
])
def test_a_bad_declaration_is_refused_naming_the_file_table_and_key(tmp_path, edit, message):
    old, new = edit
    assert old in TINY
    with pytest.raises(ExperimentError, match=message) as err:
        declare(tmp_path, TINY.replace(old, new, 1))
    assert str(tmp_path / "experiments" / "tiny.toml") in str(err.value)


def test_a_decode_experiment_changes_search_only_and_greedy_ignores_the_penalty(tmp_path):
    make_root(tmp_path, tiny=TINY, tiny_beam=TINY_BEAM)
    exp = load_experiment(tmp_path / "experiments" / "tiny_beam.toml")
    assert exp.kind == "decode" and exp.source == ("tiny", "gru")
    assert exp.arms["beam3"].change == {"search.beam_size": (1, 3)}
    assert exp.test == "paired_bootstrap"
    bad = TINY_BEAM.replace('search.beam_size = 3', 'search.beam_size = 3\nmodel.cell = "lstm"')
    with pytest.raises(ExperimentError, match=r"\[arms.beam3\]: unknown table \[model\]"):
        declare(tmp_path, bad, "tiny_beam")
    with pytest.raises(ExperimentError, match="not an arm of the training experiment 'tiny'"):
        declare(tmp_path, TINY_BEAM.replace('arm = "gru"', 'arm = "transformer"'), "tiny_beam")


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_the_repositorys_declarations_load(profile):
    paths = find_experiments(REPO / "experiments")
    assert len(paths) >= 8
    for path in paths:
        exp = load_experiment(path, profile)
        assert len(exp.seeds) >= 3 and exp.question
        assert all(len(arm.change) >= 1 for name, arm in exp.arms.items() if name != exp.control)


# ---------------------------------------------------------------------------------------------
# Running, resuming, the results file


def test_the_results_file_records_runs_curves_and_provenance(uninterrupted):
    r = uninterrupted
    assert (r["experiment"], r["kind"], r["control"], r["seeds"]) == ("tiny", "train", "gru",
                                                                       [0, 1, 2])
    assert r["provenance"]["cache_version"] == CACHE_VERSION
    assert r["provenance"]["torch"] == torch.__version__
    assert r["provenance"]["device"] == ["cpu"] and r["provenance"]["precision"] == ["fp32"]
    assert [(run["arm"], run["seed"]) for run in r["runs"]] == [
        ("gru", 0), ("gru", 1), ("gru", 2), ("lstm", 0), ("lstm", 1), ("lstm", 2)]
    (valid,) = r["valid_sets"].values()
    assert len(valid["sources"]) == len(valid["references"]) == 16
    for run in r["runs"]:
        assert run["steps"] == 12 and len(run["hypotheses"]) == 16
        assert [p["step"] for p in run["curve"]["points"]] == [3, 6, 9, 12]
        assert run["final"]["bleu"] == run["curve"]["points"][-1]["bleu"]
        assert run["curve"]["val_steps"] == [3, 5, 6, 9, 10, 12]  # every 5, and each point
        assert math.isfinite(last_quarter_gain(run, "bleu"))
    summary = summarize(r)
    assert [s.name for s in summary] == ["gru", "lstm"] and summary[0].spread is not None
    text = format_report(r)
    assert "lstm - gru" in text and "model.cell: 'gru' -> 'lstm'" in text


class Interrupt(Exception):
    pass


def interrupt_at(monkeypatch, module, name: str, call: int):
    """Make `module.name` raise Interrupt at its `call`-th call (as a Ctrl-C would)."""
    real = getattr(module, name)
    count = {"n": 0}

    def failing(*args, **kwargs):
        count["n"] += 1
        if count["n"] == call:
            raise Interrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)
    return real


@pytest.mark.parametrize("where, call", [
    ("training", 17),  # inside a run's second stretch, between two checkpoints
    ("training", 75),  # a later run
    ("judging", 2),  # trained to the second point of the curve, not yet judged there
])
def test_an_interrupted_experiment_resumed_writes_the_same_results(uninterrupted, tmp_path,
                                                                    monkeypatch, where, call):
    import s2s.experiments.runs
    import s2s.train

    root = make_root(tmp_path, tiny=TINY)
    module, name = ((s2s.train, "sequence_loss") if where == "training"
                    else (s2s.experiments.runs, "judge_valid"))
    real = interrupt_at(monkeypatch, module, name, call)
    with pytest.raises(Interrupt):
        run_tiny(root)
    monkeypatch.setattr(module, name, real)
    assert not (root / "results" / "tiny.json").exists()
    torch.manual_seed(12345)  # whatever the global generator holds now must not matter
    resumed = read_json(run_tiny(root))
    assert stable(resumed) == stable(uninterrupted)


def test_runs_for_some_seeds_then_the_rest_give_the_same_results(uninterrupted, tmp_path):
    root = make_root(tmp_path, tiny=TINY)
    assert run_tiny(root, seeds=(2,)) is None  # not every declared run is done
    assert run_tiny(root, seeds=(0, 1)) is not None
    assert stable(read_json(root / "results" / "tiny.json")) == stable(uninterrupted)


def test_a_raised_budget_extends_the_shorter_runs_to_the_same_results(tmp_path):
    """tiny at 6 steps, then its budget raised to 12: each run starts from its 6-step
    checkpoint and judged points, and the file equals the one of 12 steps from scratch."""
    every_step = TINY.replace("eval_every = 5", "eval_every = 1")
    straight = read_json(run_tiny(make_root(tmp_path / "straight", tiny=every_step)))
    root = make_root(tmp_path / "raised", tiny=every_step.replace("max_steps = 12",
                                                                   "max_steps = 6"))
    run_tiny(root)
    make_root(root, tiny=every_step)
    extended = read_json(run_tiny(root))
    assert all(len(r.pop("extended_from")) == 12 for r in extended["runs"])
    assert stable(extended) == stable(straight)


def test_a_raised_budget_validating_elsewhere_trains_from_scratch(uninterrupted, tmp_path):
    """At eval_every = 5 the 6-step runs validated at steps 2 and 4 (where their stretches
    of training ended), which the 12-step runs never do: starting from them would not be
    exact, so the runs train from scratch."""
    root = make_root(tmp_path, tiny=TINY.replace("max_steps = 12", "max_steps = 6"))
    run_tiny(root)
    make_root(root, tiny=TINY)
    raised = read_json(run_tiny(root))
    assert all("extended_from" not in r for r in raised["runs"])
    assert stable(raised) == stable(uninterrupted)


def test_a_run_another_experiment_finished_is_adopted_not_trained_again(uninterrupted,
                                                                         tmp_path):
    """tiny_mask's control is tiny's gru arm, setting for setting: its three runs are copied
    (record under the new arm's name, checkpoint), only the new arm trains."""
    mask = TINY.replace('control = "gru"', 'control = "masked"').replace(
        "[arms.gru]\n[arms.lstm]\nmodel.cell = \"lstm\"",
        "[arms.masked]\n[arms.unmasked]\ntrain.mask_loss = false")
    root = make_root(tmp_path, tiny=TINY, tiny_mask=mask)
    run_tiny(root)
    results = read_json(run_tiny(root, "tiny_mask"))
    masked = [r for r in results["runs"] if r["arm"] == "masked"]
    gru = [r for r in uninterrupted["runs"] if r["arm"] == "gru"]
    assert [r["adopted_from"] for r in masked] == ["tiny"] * 3
    assert [r["hypotheses"] for r in masked] == [r["hypotheses"] for r in gru]
    assert all("adopted_from" not in r for r in results["runs"] if r["arm"] == "unmasked")
    assert len(list((root / "cache" / "experiments" / "tiny_mask").glob("masked-*.pt"))) == 3
    assert check_results(root, "tiny_mask") == []


def test_a_decode_experiment_decodes_the_source_models_with_paired_tests(tmp_path):
    root = make_root(tmp_path, tiny=TINY, tiny_beam=TINY_BEAM)
    results = read_json(run_tiny(root, "tiny_beam"))
    assert [run["arm"] for run in results["runs"]] == ["greedy"] * 3 + ["beam3"] * 3
    assert len(results["source"]["runs"]) == 3
    assert (root / "cache" / "experiments" / "tiny").is_dir()  # the source's own runs
    text = format_report(results)
    assert "paired bootstrap p =" in text and "significant at 0.05 in" in text
    assert check_results(root, "tiny_beam") == []


def test_an_equal_time_budget_turns_a_measured_speed_ratio_into_steps(tmp_path):
    text = TINY.replace('control = "gru"', 'control = "gru"\nbudget = "time"').replace(
        "[metric]", "[speed]\nsteps = 10\n\n[metric]")
    root = make_root(tmp_path, tiny=text)
    results = read_json(run_tiny(root))
    speed = results["speed"]
    assert speed["steps"]["gru"] == 12 and speed["timed_steps"] == 10
    rate = speed["steps_per_second"]
    assert speed["steps"]["lstm"] == max(1, round(12 * rate["lstm"] / rate["gru"]))
    assert {run["steps"] for run in results["runs"] if run["arm"] == "lstm"} == {
        speed["steps"]["lstm"]}
    assert check_results(root, "tiny") == []


# ---------------------------------------------------------------------------------------------
# Results files the chapters cite


def test_check_results_names_a_missing_stale_or_incomplete_file(uninterrupted, tmp_path):
    root = make_root(tmp_path, tiny=TINY)
    assert "is missing" in check_results(root, "tiny")[0]
    (root / "results").mkdir()
    path = root / "results" / "tiny.json"
    path.write_text(json.dumps(uninterrupted))
    assert check_results(root, "tiny") == []
    stale = json.loads(json.dumps(uninterrupted))
    stale["provenance"]["cache_version"] = CACHE_VERSION - 1
    path.write_text(json.dumps(stale))
    assert any(f"CACHE_VERSION {CACHE_VERSION - 1}" in p for p in check_results(root, "tiny"))
    lacking = json.loads(json.dumps(uninterrupted))
    lacking["runs"] = [r for r in lacking["runs"] if (r["arm"], r["seed"]) != ("lstm", 1)]
    path.write_text(json.dumps(lacking))
    assert check_results(root, "tiny") == [
        f"{path} lacks the run of arm 'lstm', seed 1 that tiny.toml asks for: run "
        "`python -m s2s.experiments run tiny`"]
    (root / "experiments" / "tiny.toml").write_text(TINY.replace("max_steps = 12",
                                                                 "max_steps = 16"))
    path.write_text(json.dumps(uninterrupted))
    assert len(check_results(root, "tiny")) == 6  # every run: other settings than declared


def test_every_results_file_a_chapter_cites_is_there_current_and_complete():
    cited = cited_results(REPO / "chapters")
    problems = [f"{', '.join(chapters)}: {p}" for name, chapters in cited.items()
                for p in check_results(REPO, name)]
    assert not problems, "\n".join(problems)


def test_cited_results_finds_the_names_in_chapters(tmp_path):
    (tmp_path / "03_x.py").write_text("# see results/ch03_mask.json and results/ch04_a-gpu.json")
    (tmp_path / "04_y.py").write_text("print(open('results/ch03_mask.json'))")
    assert cited_results(tmp_path) == {"ch03_mask": ["03_x.py", "04_y.py"],
                                       "ch04_a-gpu": ["03_x.py"]}


def test_the_command_line_lists_and_reports(uninterrupted, tmp_path, capsys):
    root = make_root(tmp_path, tiny=TINY)
    assert main(["--root", str(root), "list"]) == 0
    assert "tiny (train, 12 steps, seeds [0, 1, 2]; no results yet)" in capsys.readouterr().out
    assert main(["--root", str(root), "report", "tiny"]) == 2
    assert "no results at" in capsys.readouterr().err
    (root / "results").mkdir()
    (root / "results" / "tiny.json").write_text(json.dumps(uninterrupted))
    assert main(["--root", str(root), "report", "tiny"]) == 0
    assert "deciding test: seeds" in capsys.readouterr().out
    assert main(["--root", str(root), "run", "missing"]) == 2
    assert "no declaration at" in capsys.readouterr().err
    shutil.rmtree(root / "results")


def test_a_run_another_process_holds_is_left_to_it_and_waited_for(uninterrupted, tmp_path):
    """Several processes can share an experiment: a run whose lock is held elsewhere is
    skipped, the others are done, then the runner waits for it (here the lock is released
    after a second, unfinished, so the runner does the run itself)."""
    import subprocess
    import sys

    root = make_root(tmp_path, tiny=TINY)
    exp = load_experiment(root / "experiments" / "tiny.toml")
    first = plan(exp, root, exp.seeds, {"gru": 12, "lstm": 12})[0]
    lock = first.work / "locks" / f"{first.path('').name}.lock"
    first.work.joinpath("locks").mkdir(parents=True)
    holder = subprocess.Popen(  # another process holds the run's lock for a second
        [sys.executable, "-c", "import sys, time; from filelock import FileLock\n"
         f"lock = FileLock({str(lock)!r}); lock.acquire(); print('held', flush=True)\n"
         "time.sleep(1.0); lock.release()"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    lines = []
    path = run_experiment(exp, root, device="cpu", load_data=tiny_loader, progress=False,
                          log=lines.append)
    assert any("gru seed 0 is running in another process; waiting" in line for line in lines)
    assert lines[-1].startswith("[6/6] tiny: gru seed 0")  # done last, after the wait
    assert stable(read_json(path)) == stable(uninterrupted)
    assert holder.wait(timeout=60) == 0


def test_a_chapter_cites_a_checked_result_and_its_tests(uninterrupted, tmp_path):
    from s2s.experiments.report import ResultsError, cite
    from s2s.metrics import seed_difference

    root = make_root(tmp_path, tiny=TINY, tiny_beam=TINY_BEAM)
    with pytest.raises(ResultsError, match="python -m s2s.experiments run tiny"):
        cite("tiny", root)
    run_tiny(root)
    run_tiny(root, "tiny_beam")
    tiny, beam = cite("tiny", root), cite("tiny_beam", root)
    assert "results/tiny.json, made by `python -m s2s.experiments run tiny`" in tiny.source
    assert "CACHE_VERSION" in tiny.source and "cpu" in tiny.source
    scores = {arm: [r["final"]["bleu"] for r in tiny.results["runs"] if r["arm"] == arm]
              for arm in ("gru", "lstm")}
    assert tiny.difference("lstm") == seed_difference(scores["gru"], scores["lstm"])
    assert tiny.arm("lstm").scores == scores["lstm"]
    assert str(tiny) == format_report(tiny.results)
    with pytest.raises(KeyError, match="'gru', 'lstm'|gru, lstm"):
        tiny.arm("transformer")
    lines = tiny.curves()  # one per run: its points and its lowest validation loss
    assert len(lines) == len(tiny.results["runs"]) and beam.curves() == []
    for line, run in zip(lines, tiny.results["runs"], strict=True):
        curve = run["curve"]
        loss, step = min(zip(curve["val_loss"], curve["val_steps"], strict=True))
        assert line.startswith(f"{run['arm']:16} seed {run['seed']}: ")
        assert line.endswith(f"lowest validation loss {loss:.3f} at step {step:,}")
        assert all(f"{p['bleu']:5.2f} at {p['step']:,}" in line for p in curve["points"])
    paired = beam.paired("beam3")
    assert sorted(paired) == [0, 1, 2]
    assert all(p.system == next(r["final"]["bleu"] for r in beam.results["runs"]
                                if r["arm"] == "beam3" and r["seed"] == s)
               for s, p in paired.items())
    stale = json.loads((root / "results" / "tiny.json").read_text())
    stale["provenance"]["cache_version"] = CACHE_VERSION - 1
    (root / "results" / "tiny.json").write_text(json.dumps(stale))
    with pytest.raises(ResultsError, match="CACHE_VERSION"):
        cite("tiny", root)


def test_arms_judged_at_different_levels_are_scored_alike(uninterrupted):
    """A level that keeps case (subwords, characters) is scored like the word level, which
    lower-cases its data: every run's output lower-cased against the control's references
    lower-cased, sentence by sentence matched by their words (a level's valid set may list
    them in another order, or lack one). Sabotage: a cased control's references, an arm's
    reversed order and its capitals would each change the scores."""
    from s2s.experiments.report import run_scores, scored_alike
    from s2s.metrics import corpus_bleu, corpus_chrf

    assert scored_alike(uninterrupted) is None  # one level: the runs' own scores stand
    assert run_scores(uninterrupted) == {(r["arm"], r["seed"]): r["final"]
                                         for r in uninterrupted["runs"]}
    mixed = copy.deepcopy(uninterrupted)
    (key, valid), = mixed["valid_sets"].items()
    n = len(valid["sources"])
    expected = {}
    for run in mixed["runs"]:
        hyps = [h.lower() for h in run["hypotheses"]]
        refs = [[r.lower() for r in group] for group in valid["references"]]
        expected[run["arm"], run["seed"]] = (corpus_bleu(hyps, refs).score,
                                             corpus_chrf(hyps, refs).score)
    valid["references"] = [[r.title() for r in group] for group in valid["references"]]
    mixed["valid_sets"]["chars"] = {"sources": [s.upper() for s in valid["sources"]][::-1],
                                    "references": [["?"]] * n}
    for run in mixed["runs"]:
        if run["arm"] == "lstm":  # another level, its sentences listed the other way round
            run["settings"]["data"]["tokenizers"] = ["char", "char"]
            run["valid_set"] = "chars"
            run["hypotheses"] = [h.title() for h in run["hypotheses"]][::-1]
    alike = run_scores(mixed)
    for run_key, (bleu, chrf) in expected.items():
        assert alike[run_key]["bleu"] == pytest.approx(bleu, abs=1e-9), run_key
        assert alike[run_key]["chrf"] == pytest.approx(chrf, abs=1e-9), run_key
    lstm = next(s for s in summarize(mixed) if s.name == "lstm")
    assert lstm.scores == [expected["lstm", seed][0] for seed in lstm.seeds]
    assert f"on the {n} of its {n} sentences every arm was judged on" in format_report(mixed)
    for run in mixed["runs"]:  # the character level lacks one sentence: scored without it
        if run["arm"] == "lstm":
            run["hypotheses"] = run["hypotheses"][1:]
    mixed["valid_sets"]["chars"]["sources"] = mixed["valid_sets"]["chars"]["sources"][1:]
    assert len(scored_alike(mixed).references) == n - 1
    assert f"on the {n - 1} of its {n} sentences" in format_report(mixed)
    mixed["valid_sets"]["chars"]["sources"] = ["nothing in common"] * (n - 1)
    with pytest.raises(ValueError, match="no valid sentence was judged by every arm"):
        run_scores(mixed)


def test_arms_of_one_level_on_other_sentences_keep_their_own_scores(uninterrupted):
    """Same level, other pairs (another max_len, say): no rescoring, and the report says the
    paired test cannot be made rather than failing."""
    from s2s.experiments.report import run_scores, scored_alike

    other = copy.deepcopy(uninterrupted)
    (key, valid), = other["valid_sets"].items()
    other["valid_sets"]["shuffled"] = {k: v[::-1] for k, v in valid.items()}
    for run in other["runs"]:
        if run["arm"] == "lstm":
            run["valid_set"] = "shuffled"
    assert scored_alike(other) is None
    assert run_scores(other) == {(r["arm"], r["seed"]): r["final"] for r in other["runs"]}
    assert "deciding test: seeds" in format_report(other)


@pytest.mark.parametrize("dataset, tokenizers, expected", [
    ("cmn-eng", None, "zh"), ("cmn-eng", ["spm", "spm"], "zh"), ("cmn-eng", ["word", "char"],
                                                                 "13a"),
    ("fra-eng", ["spm", "spm"], "13a"), ("fra-eng", None, "13a")])
def test_bleu_is_tokenised_as_judge_tokenises_the_controls_target(dataset, tokenizers,
                                                                  expected):
    from s2s.experiments.report import bleu_tokenize

    data = {"dataset": dataset, **({"tokenizers": tokenizers} if tokenizers else {})}
    results = {"control": "base", "runs": [{"arm": "base", "settings": {"data": data}}]}
    assert bleu_tokenize(results) == expected


@pytest.mark.parametrize("gain, shown", [(0.0951, "+9.5%"), (0.0999, "+9.9%"), (0.1, "+10%"),
                                         (0.0949, "+9%"), (0.1028, "+10%"), (-0.097, "-9.7%"),
                                         (math.inf, "up from 0")])
def test_a_gain_is_never_printed_on_the_wrong_side_of_the_past_noise_line(gain, shown):
    from s2s.experiments.report import format_gain

    assert format_gain(gain) == shown


def test_a_stored_change_shows_a_later_model_fields_real_default():
    from s2s.experiments.report import shown_change

    assert shown_change({"model.norm_first": [None, True]}) == "model.norm_first: False -> True"
    assert shown_change({"model.num_heads": [None, 4], "model.kind": ["rnn", "transformer"]}) \
        == "model.kind: 'rnn' -> 'transformer'"
    assert shown_change({"data.tokenizers": [None, ["spm", "spm"]]}) \
        == "data.tokenizers: None -> ['spm', 'spm']"
