"""The command line, run as a learner runs it (`python -m s2s ...` in a subprocess): train a
tiny config on a slice of the real corpus, resume it, translate stdin, evaluate on a split and
on files; bad configs and arguments fail with exit status 2 and a message naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import s2s
from s2s.cli import ConfigError, read_config
from s2s.checkpoints import load_checkpoint, load_history

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


def s2s_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "utils"), "S2S_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "s2s", *args], input=stdin, text=True,
                          capture_output=True, env=env, timeout=300)


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
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and str(config) in out.stderr, out.stderr


def test_other_bad_input_is_refused_with_what_to_do(tmp_path):
    missing = s2s_cli("train", str(tmp_path / "none.toml"))
    assert missing.returncode == 2 and "no config file" in missing.stderr
    (tmp_path / "broken.toml").write_text("[train\nlr = 1")
    broken = s2s_cli("train", str(tmp_path / "broken.toml"))
    assert broken.returncode == 2 and "not valid TOML" in broken.stderr
    config = tmp_path / "fresh.toml"
    config.write_text(TINY.format(steps=5))
    resume = s2s_cli("train", str(config), "--resume")
    assert resume.returncode == 2 and "train without --resume first" in resume.stderr
    no_ckpt = s2s_cli("translate", str(tmp_path / "none.pt"), stdin="Go!\n")
    assert no_ckpt.returncode == 2 and "no checkpoint at" in no_ckpt.stderr
    evaluate = s2s_cli("evaluate", str(tmp_path / "none.pt"))
    assert evaluate.returncode == 2


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
