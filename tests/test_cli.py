"""The command line, run as a learner runs it (`python -m s2s ...` in a subprocess): train a
tiny config on a slice of the real corpus, resume it, translate stdin, evaluate on a split and
on files; bad configs and arguments fail with exit status 2, a missing corpus or a damaged
checkpoint with 1, a bug with 3, each in one line on stderr naming the key, file or folder
(the traceback only with --verbose)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import s2s
from s2s import cli
from s2s.checkpoints import load_checkpoint, load_history
from s2s.cli import ConfigError, read_config

ROOT = Path(__file__).resolve().parents[1]

TINY = """
[data]
dataset = "fra-eng"
max_len = 5
max_pairs = 1500
min_freq = 1

[model]
kind = "rnn"
embed_size = 16
hidden_size = 32
num_layers = 1
dropout = 0.0

[train]
lr = 1e-2
batch_size = 32
max_steps = {steps}
eval_every = 5
precision = "fp32"

[output]
checkpoint = "run.pt"
"""


def s2s_cli(*args: str, stdin: str = "", env: dict[str, str] | None = None,
            **run: object) -> subprocess.CompletedProcess:
    """`python -m s2s ARGS` in a subprocess; `env` adds or overrides environment variables."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "utils"), "S2S_QUIET": "1", **(env or {})}
    run = {"capture_output": True, **run}
    return subprocess.run([sys.executable, "-m", "s2s", *args], input=stdin, text=True,
                          env=env, timeout=300, **run)


def one_line_error(out: subprocess.CompletedProcess, status: int, *words: str) -> str:
    """Check that the command failed with `status` and exactly one non-empty line on stderr
    (no traceback) holding every one of `words`; returns that line."""
    assert out.returncode == status, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "tiny.toml"
    config.write_text(TINY.format(steps=10))
    first = s2s_cli("train", str(config))
    assert first.returncode == 0, first.stderr
    config.write_text(TINY.format(steps=15))  # a larger budget, then resume
    resumed = s2s_cli("train", str(config), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    return config, folder / "run.pt", first, resumed


def test_train_writes_a_checkpoint_and_resume_continues_it(trained):
    config, checkpoint, first, resumed = trained
    assert checkpoint.is_file()
    assert "10 steps" in first.stdout and "15 steps" in resumed.stdout
    history = load_history(checkpoint)
    assert history.steps == 15 and history.val_steps == [5, 10, 15]


def test_translate_reads_stdin_and_keeps_lines_aligned(trained):
    _, checkpoint, _, _ = trained
    out = s2s_cli("translate", str(checkpoint), stdin="I am cold.\n\nGo!\n")
    assert out.returncode == 0, out.stderr
    model = load_checkpoint(checkpoint)
    first, last = s2s.translate(model, ["I am cold.", "Go!"])
    assert out.stdout == f"{first}\n\n{last}\n"  # the blank line kept, in place
    beam = s2s_cli("translate", str(checkpoint), "--beam", "3", stdin="Go!\n")
    assert beam.returncode == 0, beam.stderr
    assert beam.stdout == s2s.translate(model, "Go!", beam_size=3) + "\n"
    penalty = s2s_cli("translate", str(checkpoint), "--length-penalty", "gnmt", stdin="Go!\n")
    assert penalty.returncode == 2 and "needs --beam" in penalty.stderr


def test_evaluate_on_a_split_and_on_files(trained, tmp_path):
    config, checkpoint, _, _ = trained
    split = s2s_cli("evaluate", str(checkpoint), "--config", str(config), "--split", "valid")
    assert split.returncode == 0, split.stderr
    assert split.stdout.startswith("BLEU = ") and "chrF2 = " in split.stdout
    (tmp_path / "src.txt").write_text("Go!\nI am cold.\n")
    (tmp_path / "ref1.txt").write_text("va !\nj'ai froid.\n")
    (tmp_path / "ref2.txt").write_text("bouge !\nje suis froid.\n")
    files = s2s_cli("evaluate", str(checkpoint), "--source", str(tmp_path / "src.txt"),
                    "--reference", str(tmp_path / "ref1.txt"),
                    "--reference", str(tmp_path / "ref2.txt"))
    assert files.returncode == 0, files.stderr
    assert "BLEU = " in files.stdout and "chrF2 = " in files.stdout
    (tmp_path / "short.txt").write_text("va !\n")
    bad = s2s_cli("evaluate", str(checkpoint), "--source", str(tmp_path / "src.txt"),
                  "--reference", str(tmp_path / "short.txt"))
    assert bad.returncode == 2 and "has 1 lines" in bad.stderr


@pytest.mark.parametrize(("old", "new", "message"), [
    ("max_steps = 10", "max_stepz = 10", "unknown key [train] max_stepz"),
    ("lr = 1e-2", 'lr = "fast"', "[train] lr = 'fast' is a str; it must be a number"),
    ("batch_size = 32", "batch_size = 32.5", "[train] batch_size = 32.5 is a float; it must "
                                             "be a int"),
    ("batch_size = 32", "batch_size = 0", "[train]: TrainConfig.batch_size"),
    ("[output]", "[outputs]", "unknown table [outputs]"),
    ('kind = "rnn"', "", "[model] kind is missing"),
    ("dropout = 0.0", 'dropout = 0.0\nattention = "general"', "[model]: ModelConfig"),
    ("max_len = 5", "max_len = 0", "[data]: max_len"),
])
def test_a_bad_config_fails_naming_the_key(tmp_path, old, new, message):
    config = tmp_path / "bad.toml"
    config.write_text(TINY.format(steps=10).replace(old, new))
    out = s2s_cli("train", str(config))
    line = one_line_error(out, 2, message, str(config))
    assert line.startswith("s2s train: error: ")


def test_other_bad_input_is_refused_with_what_to_do(tmp_path):
    missing = s2s_cli("train", str(tmp_path / "none.toml"))
    one_line_error(missing, 2, "no config file", str(tmp_path / "none.toml"))
    (tmp_path / "broken.toml").write_text("[train\nlr = 1")
    broken = s2s_cli("train", str(tmp_path / "broken.toml"))
    one_line_error(broken, 2, "not valid TOML", str(tmp_path / "broken.toml"))
    config = tmp_path / "fresh.toml"
    config.write_text(TINY.format(steps=5))
    resume = s2s_cli("train", str(config), "--resume")
    one_line_error(resume, 2, "train without --resume first", str(tmp_path / "run.pt"))
    (tmp_path / "folder").mkdir()
    config.write_text(TINY.format(steps=5).replace('"run.pt"', '"folder"'))
    into_folder = s2s_cli("train", str(config))
    one_line_error(into_folder, 2, "[output] checkpoint", str(tmp_path / "folder"), "a folder")
    device = s2s_cli("train", str(config), "--device", "gpu0")
    one_line_error(device, 2, "--device='gpu0' is not a device name")


@pytest.mark.parametrize("command", ["translate", "evaluate"])
def test_a_missing_checkpoint_is_a_usage_error_naming_the_path(tmp_path, command):
    out = s2s_cli(command, str(tmp_path / "none.pt"), stdin="Go!\n")
    line = one_line_error(out, 2, "no checkpoint at", str(tmp_path / "none.pt"))
    assert line.startswith(f"s2s {command}: error: ")


@pytest.mark.parametrize("command", ["translate", "evaluate"])
def test_a_folder_given_as_the_checkpoint_is_refused_naming_what_it_holds(tmp_path, command):
    (tmp_path / "run.pt").write_bytes(b"")  # named in the message, never read
    out = s2s_cli(command, str(tmp_path), stdin="Go!\n")
    one_line_error(out, 2, f"the checkpoint {tmp_path} is a folder", "run.pt")
    assert out.stdout == ""


@pytest.mark.parametrize("mirror", ["empty", "absent", "corrupt"])
def test_a_missing_corpus_fails_with_status_1_naming_the_mirror(tmp_path, mirror):
    """S2S_DATA_DIR set to a folder without the archive, to no folder, or to one whose archive
    is not a known release: one line naming the folder or the file, no checkpoint written."""
    folder = tmp_path / "data"
    if mirror != "absent":
        folder.mkdir()
    if mirror == "corrupt":
        (folder / "fra-eng.zip").write_bytes(b"not a zip archive")
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(steps=5))
    out = s2s_cli("train", str(config), env={"S2S_DATA_DIR": str(folder)})
    named = {"empty": ("S2S_DATA_DIR", str(folder), "fra-eng.zip"),
             "absent": ("S2S_DATA_DIR", str(folder)),
             "corrupt": (str(folder / "fra-eng.zip"),)}[mirror]
    line = one_line_error(out, 1, *named)
    assert line.startswith("s2s train: error: ")
    assert not (tmp_path / "run.pt").exists()


@pytest.fixture
def damaged(trained, tmp_path) -> dict[str, Path]:
    """Files that are not usable checkpoints: the first half of a real one, a text file, and
    a torch file that holds a tensor, not a checkpoint."""
    import torch

    whole = trained[1].read_bytes()
    files = {"truncated": tmp_path / "truncated.pt", "text": tmp_path / "notes.pt",
             "tensor": tmp_path / "tensor.pt"}
    files["truncated"].write_bytes(whole[: len(whole) // 2])
    files["text"].write_text("I am cold.\tJ'ai froid.\n")
    torch.save(torch.zeros(3), files["tensor"])
    return files


@pytest.mark.parametrize(("command", "kind"), [
    ("translate", "truncated"), ("translate", "text"), ("translate", "tensor"),
    ("evaluate", "truncated"),
])
def test_a_damaged_checkpoint_fails_with_status_1_naming_the_file(trained, damaged, command,
                                                                  kind):
    path = damaged[kind]
    args = [command, str(path)] + (["--config", str(trained[0])] if command == "evaluate" else [])
    out = s2s_cli(*args, stdin="Go!\n")
    line = one_line_error(out, 1, str(path), "checkpoint")
    assert line.startswith(f"s2s {command}: error: ") and out.stdout == ""


def test_resuming_a_damaged_checkpoint_fails_with_status_1_naming_it(damaged, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(steps=5).replace('"run.pt"', '"truncated.pt"'))
    out = s2s_cli("train", str(config), "--resume")
    one_line_error(out, 1, str(damaged["truncated"]), "checkpoint")


def test_verbose_adds_the_traceback_above_the_line(damaged):
    path = damaged["truncated"]
    for args in (["translate", str(path), "--verbose"], ["-v", "translate", str(path)]):
        out = s2s_cli(*args, stdin="Go!\n")
        assert out.returncode == 1, out.stderr
        assert out.stderr.startswith("Traceback (most recent call last):"), out.stderr
        assert "CheckpointError" in out.stderr  # the library's class, and torch's cause
        last = out.stderr.splitlines()[-1]
        assert last.startswith("s2s translate: error: ") and str(path) in last


def test_a_closed_output_pipe_ends_in_one_line(trained):
    """`... | head -0`: stdout's reader is gone before anything is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        out = s2s_cli("translate", str(trained[1]), stdin="Go!\n", stdout=write,
                      stderr=subprocess.PIPE, capture_output=False)
    finally:
        os.close(write)
    one_line_error(out, 1, "Broken pipe")


def test_help_documents_the_exit_statuses(capsys):
    for argv in (["--help"], ["train", "--help"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 0
        shown = capsys.readouterr().out
        assert "exit status:" in shown and "--verbose" in shown
        for status in ("0 ", "1 ", "2 ", "3 ", "130 "):
            assert f"\n  {status}" in shown, status


def test_exit_status_by_class_and_origin():
    """Library errors (the s2s package's own ValueError, TypeError, RuntimeError; OSError or
    memory from anywhere) give 1, a config 2, anything else (a bug) 3, Ctrl-C 130."""
    import torch

    from s2s.arguments import check_int

    def raised_by(call) -> BaseException:
        with pytest.raises(BaseException) as info:
            call()
        return info.value

    def raised_here(err: BaseException) -> BaseException:
        """`err`, raised here: in the tests, not in the s2s package."""
        try:
            raise err
        except BaseException as caught:
            return caught

    assert cli.exit_status(raised_here(ConfigError("bad key"))) == 2
    assert cli.exit_status(raised_by(lambda: check_int("steps", "ten"))) == 1  # TypeError, s2s
    assert cli.exit_status(raised_by(lambda: check_int("steps", 0, low=1))) == 1  # ValueError
    assert cli.exit_status(raised_here(FileNotFoundError(2, "No such file", "x.pt"))) == 1
    assert cli.exit_status(raised_here(torch.OutOfMemoryError("CUDA out of memory"))) == 1
    assert cli.exit_status(raised_here(MemoryError())) == 1
    assert cli.exit_status(raised_by(lambda: torch.zeros(2).view(3))) == 3  # torch's, a bug
    assert cli.exit_status(raised_here(ValueError("raised here, outside s2s"))) == 3
    assert cli.exit_status(raised_here(KeyError("model_state"))) == 3
    assert cli.exit_status(ValueError("never raised: no traceback")) == 3
    assert cli.exit_status(raised_here(KeyboardInterrupt())) == 130


def test_an_unexpected_error_is_one_line_with_a_hint(monkeypatch, capsys):
    def broken(*args, **kwargs):
        return {}["model_state"]

    monkeypatch.setattr(cli, "train", broken)
    assert cli.main(["train", "x.toml"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("s2s train: internal error: KeyError: 'model_state'")
    assert "rerun with --verbose" in err
    assert cli.main(["train", "x.toml", "--verbose"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "in broken" in err
    assert err.splitlines()[-1].startswith("s2s train: internal error: KeyError")


def test_an_interrupt_ends_with_status_130_in_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train", interrupted)
    assert cli.main(["train", "x.toml"]) == 130
    assert capsys.readouterr().err == ("s2s train: interrupted; --resume continues from its "
                                       "last checkpoint\n")


def test_the_repository_configs_are_valid():
    configs = sorted((ROOT / "configs").glob("*.toml"))
    assert configs, "configs/ holds the example configs"
    for path in configs:
        config = read_config(path)
        assert config["model"]["kind"]
    with pytest.raises(ConfigError, match="tokenizers"):
        bad = ROOT / "configs" / "tiny.toml"
        text = bad.read_text().replace("[model]", 'tokenizers = ["word"]\n\n[model]')
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "s2s-bad-tokenizers.toml"
        tmp.write_text(text)
        try:
            read_config(tmp)
        finally:
            tmp.unlink()


def test_an_english_chinese_model_is_scored_with_the_zh_tokenisation(tmp_path):
    """The capstone's model kind on cmn-eng: BLEU from `evaluate` splits Chinese characters
    (sacrebleu's zh), on a split and on files; translations are joined without spaces."""
    config = tmp_path / "zh.toml"
    config.write_text(TINY.format(steps=10)
                      .replace('dataset = "fra-eng"', 'dataset = "cmn-eng"')
                      .replace('kind = "rnn"', 'kind = "nmt"\ncell = "lstm"\nbidirectional = '
                               'true\ninput_feeding = true\nattention = "additive"'))
    trained = s2s_cli("train", str(config))
    assert trained.returncode == 0, trained.stderr
    checkpoint = tmp_path / "run.pt"
    assert load_checkpoint(checkpoint).config.tokenizers == ("word", "zh")
    split = s2s_cli("evaluate", str(checkpoint), "--config", str(config), "--split", "valid")
    assert split.returncode == 0 and "tok:zh" in split.stdout, split.stdout + split.stderr
    (tmp_path / "src.txt").write_text("I am cold.\n")
    (tmp_path / "ref.txt").write_text("我很冷。\n")
    files = s2s_cli("evaluate", str(checkpoint), "--source", str(tmp_path / "src.txt"),
                    "--reference", str(tmp_path / "ref.txt"))
    assert files.returncode == 0 and "tok:zh" in files.stdout, files.stdout + files.stderr
    out = s2s_cli("translate", str(checkpoint), stdin="I am cold.\n")
    assert out.returncode == 0, out.stderr
    model = load_checkpoint(checkpoint)
    assert out.stdout == s2s.translate(model, "I am cold.") + "\n"
    from s2s.text import detokenize
    assert detokenize(["我", "很", "冷", "。"], "zh") == "我很冷。"  # joined without spaces
