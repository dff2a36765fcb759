"""Subwords: BPE from scratch (s2s.bpe) and sentencepiece as the library's "spm" tokenizer
(s2s.subwords), through the data, checkpoints, translation, judging and the command line.

The independent BPE is sentencepiece's own BPE trainer (HF `tokenizers` is not a dependency of
the course; sentencepiece is). The two agree merge for merge on a corpus where no two pairs
ever tie for the most frequent; in general they can differ: ties are broken by different rules,
sentencepiece applies a merge whenever the *merged string* is a piece (s2s.bpe and subword-nmt
only when the *pair* was learned), its vocabulary size counts characters and specials, it may
leave rare characters out (character_coverage), and its pieces are at most 16 characters."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from corpus import require_corpus
from s2s import bpe, translate
from s2s.chars import unknown_rate
from s2s.checkpoints import load_checkpoint, save_checkpoint
from s2s.data import load_translation, split_by_source
from s2s.download import read_text
from s2s.metrics import judge
from s2s.subwords import (
    SubwordVocab,
    detokenize_as,
    scoring_kind,
    tokenize_as,
    train_sentencepiece,
)
from s2s.text import parse_pairs, tokenize_words
from s2s.vocab import SPECIALS, UNK, Vocab

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(max_len=6, max_pairs=2000, tokenizers=("spm", "spm"), vocab_size=500,
             verbose=False)

# ---------------------------------------------------------------------------------------------
# BPE from scratch

PAPER = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # Sennrich et al.'s toy
NO_TIES = {"low": 39, "lower": 32, "newest": 23, "widest": 10, "slow": 38, "wider": 10,
           "new": 37}


def _tie_free(counts: dict[str, int], merges: int, end: str) -> bool:
    """Whether each of the first `merges` steps has one most frequent pair."""
    words = {bpe.split_word(w, end): c for w, c in counts.items()}
    for _ in range(merges):
        top = sorted(bpe.count_pairs(words).values(), reverse=True)
        if len(top) > 1 and top[0] == top[1]:
            return False
        words = bpe.merge_pair(words, bpe.best_pair(bpe.count_pairs(words)))
    return True


def _spm_bpe(counts: dict[str, int], merges: int):
    """sentencepiece's BPE on the same word table: the marker at the end of words
    (treat_whitespace_as_suffix), every character kept, no normalisation; vocab_size is
    <unk> + the characters (the marker one of them) + the merges."""
    import sentencepiece as spm

    chars = {c for word in counts for c in word} | {"▁"}
    out = io.BytesIO()
    lines = [word for word, n in counts.items() for _ in range(n)]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=out, model_type="bpe",
        vocab_size=1 + len(chars) + merges, treat_whitespace_as_suffix=True,
        character_coverage=1.0, bos_id=-1, eos_id=-1, normalization_rule_name="identity",
        num_threads=1, minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=out.getvalue())


def test_bpe_equals_sentencepiece_bpe_where_no_pairs_tie():
    k = 8
    assert _tie_free(NO_TIES, k, "▁")  # the comparison's precondition
    merges = bpe.learn_bpe(NO_TIES, k, end="▁")
    processor = _spm_bpe(NO_TIES, k)
    # sentencepiece lists its merged pieces first, in the order it learned them
    assert [a + b for a, b in merges] == [processor.id_to_piece(i) for i in range(1, k + 1)]
    for word in ["lowest", "newer", "wider", "slowest", "snow", "low", "newest"]:
        assert bpe.apply_bpe(word, merges, end="▁") == processor.encode(word, out_type=str)


def test_bpe_breaks_ties_by_string_order():
    words = {bpe.split_word(w): c for w, c in PAPER.items()}
    pairs = bpe.count_pairs(words)
    top = max(pairs.values())
    tied = sorted(p for p, c in pairs.items() if c == top)
    assert top == 9 and tied == [("e", "s"), ("s", "t"), ("t", "</w>")]
    assert bpe.best_pair(pairs) == ("e", "s")  # the first in string order
    assert bpe.best_pair(dict(reversed(list(pairs.items())))) == ("e", "s")  # not dict order
    assert bpe.learn_bpe(PAPER, 4) == [("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o")]
    assert not _tie_free(PAPER, 1, "</w>")


def test_bpe_applies_merges_in_learned_order():
    assert bpe.apply_bpe("abc", [("a", "b"), ("b", "c")]) == ["ab", "c", "</w>"]
    assert bpe.apply_bpe("abc", [("b", "c"), ("a", "b")]) == ["a", "bc", "</w>"]
    merges = bpe.learn_bpe(PAPER, 10)
    assert bpe.apply_bpe("lowest", merges) == ["low", "est</w>"]
    assert bpe.apply_bpe("zqlow", merges) == ["z", "q", "low</w>"]  # unseen: characters
    assert bpe.unbpe(["low", "est</w>", "z", "q", "low</w>"]) == ["lowest", "zqlow"]
    assert bpe.learn_bpe({"ab": 3}, 50) == [("a", "b"), ("ab", "</w>")]  # stops early
    assert bpe.word_counts(["a b a", "b a"]) == {"a": 3, "b": 2}


@pytest.mark.parametrize("call, error", [
    (lambda: bpe.learn_bpe(PAPER, -1), "num_merges"),
    (lambda: bpe.learn_bpe("low lower", 3), "table"),
    (lambda: bpe.learn_bpe({"low": 0}, 3), "frequency"),
    (lambda: bpe.learn_bpe({"lo w": 2}, 3), "without spaces"),
    (lambda: bpe.apply_bpe("", []), "non-empty"),
    (lambda: bpe.best_pair({}), "no pair"),
    (lambda: bpe.unbpe(["lo", "w"]), "unfinished"),
    (lambda: train_sentencepiece("one sentence", 300), "list of sentences"),
    (lambda: train_sentencepiece(["", " "], 300), "no sentence"),
])
def test_bpe_refuses_bad_input(call, error):
    with pytest.raises((TypeError, ValueError), match=error):
        call()


# ---------------------------------------------------------------------------------------------
# sentencepiece in the data


@pytest.fixture(scope="module")
def small():
    require_corpus()
    return load_translation(**SMALL)


def _planted_corpus(monkeypatch, planted: str) -> set[tuple[str, ...]]:
    """Make the loader read a corpus whose test-split English sentences end with `planted`;
    returns the planted sentences' word tokens."""
    import s2s.data

    path, release = require_corpus()
    settings = dict(max_pairs=3000, verbose=False)
    test = {tuple(s) for s, _ in load_translation(**settings).splits.test}
    lines = []
    for line in read_text(path, release).split("\n"):
        cols = line.split("\t")
        if len(cols) >= 2 and tuple(tokenize_words(cols[0])) in test:
            cols[0] += f" {planted}"
        lines.append("\t".join(cols))
    monkeypatch.setattr(s2s.data, "read_text", lambda *args: "\n".join(lines))
    return {(*s, planted.lower()) for s in test}


def test_sentencepiece_is_trained_on_the_training_split_only(monkeypatch, tmp_path):
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    planted = "Zorblaxʘ"
    sources = _planted_corpus(monkeypatch, planted)
    data = load_translation(max_pairs=3000, tokenizers=("spm", "spm"), vocab_size=600,
                            verbose=False)
    # the token is in every test pair's source and in no other split
    assert all(s.endswith(planted) for s, _ in data.texts.test) and len(data.texts.test) > 100
    assert not any(planted in s for split in (data.texts.train, data.texts.valid)
                   for s, _ in split)
    assert {tuple(tokenize_words(s)) for s, _ in data.texts.test} == sources

    def leaked(vocab: Vocab) -> list[str]:
        return [p for p in vocab.itos if "ʘ" in p or "orblax" in p]

    assert leaked(data.src_vocab) == []
    pieces = data.src_vocab.tokenize(planted)
    assert "<0xCA>" in pieces and "<0x98>" in pieces  # "ʘ" as its UTF-8 bytes
    assert data.src_vocab.detokenize(pieces) == planted
    # the check can fail: a trainer that also read the test split has the character
    cheat = train_sentencepiece([s for s, _ in data.texts.train + data.texts.test], 600)
    assert leaked(SubwordVocab(cheat)) != []


def test_subword_data_holds_the_word_level_pairs(small):
    words = load_translation(**{**SMALL, "tokenizers": None, "vocab_size": None})
    for split in ("train", "valid", "test"):
        texts = getattr(small.texts, split)
        assert [(tokenize_words(s), tokenize_words(t)) for s, t in texts] == \
            getattr(words.splits, split)
        assert [(small.src_vocab.detokenize(s), small.tgt_vocab.detokenize(t))
                for s, t in getattr(small.splits, split)] == texts
    assert small.params["tokenizers"] == ["spm", "spm"]
    assert small.params["vocab_size"] == 500 and small.params["subword_model"] == "unigram"
    assert len(small.src_vocab) == len(small.tgt_vocab) == 500
    assert small.src_vocab.itos[:4] == list(SPECIALS)


def test_word_level_data_is_unchanged(small):
    data = load_translation(max_len=6, max_pairs=2000, verbose=False)
    assert data.params == {"dataset": "fra-eng", "release": "fra-eng-2017-09-29", "max_len": 6,
                           "max_pairs": 2000, "min_freq": 2, "valid_frac": 0.05,
                           "test_frac": 0.05, "seed": 0, "tokenizers": ["word", "word"]}
    assert type(data.src_vocab) is Vocab
    pairs = [(tokenize_words(s), tokenize_words(t)) for s, t in data.texts.train]
    assert pairs == data.splits.train
    # split_by_source, now written over positions, splits as it did
    split = split_by_source(data.splits.train, 0.1, 0.1, seed=3)
    groups = {tuple(s) for s, _ in split.test}
    assert not groups & {tuple(s) for s, _ in split.train}
    assert len(split.train) + len(split.valid) + len(split.test) == len(data.splits.train)


def test_one_side_can_be_subwords(small):
    mixed = load_translation(**{**SMALL, "tokenizers": ("spm", "word")})
    assert mixed.src_vocab == small.src_vocab  # the same text, the same key: the same model
    assert type(mixed.tgt_vocab) is Vocab
    assert [t for _, t in mixed.splits.train] == [tokenize_words(t) for _, t in mixed.texts.train]
    assert scoring_kind("word", mixed.tgt_vocab) == "word"


def _corpus_sentences(dataset: str) -> set[str]:
    path, release = require_corpus(dataset)
    pairs, _ = parse_pairs(read_text(path, release))
    return {s for pair in pairs for s in pair}


@pytest.mark.parametrize("dataset, vocab_size, joint", [("fra-eng", 1000, False),
                                                        ("cmn-eng", 5000, True)])
def test_round_trip_of_the_whole_test_split(dataset, vocab_size, joint):
    """Every test sentence, cut into pieces by a model trained on train, decodes to exactly
    the corpus's sentence: the loader's only normalisation is parse_pairs' (a line's
    byte-order mark removed, each column stripped of surrounding spaces), sentencepiece's is
    "identity" (no NFKC, spaces kept)."""
    require_corpus(dataset)
    data = load_translation(dataset, tokenizers=("spm", "spm"), vocab_size=vocab_size,
                            joint_vocab=joint, verbose=False)
    corpus = _corpus_sentences(dataset)
    assert len(data.texts.test) > (6000 if dataset == "fra-eng" else 1000)
    for (src, tgt), (raw_src, raw_tgt) in zip(data.splits.test, data.texts.test, strict=True):
        assert raw_src in corpus and raw_tgt in corpus
        assert data.src_vocab.detokenize(src) == raw_src
        assert data.tgt_vocab.detokenize(tgt) == raw_tgt
    for side, vocab in ((0, data.src_vocab), (1, data.tgt_vocab)):
        assert unknown_rate(vocab, [pair[side] for pair in data.splits.test]) == 0.0
    assert (data.src_vocab.model == data.tgt_vocab.model) is joint  # one model, or two
    if dataset == "fra-eng":  # every character of training is a piece (coverage 1.0)
        assert not any(p.startswith("<0x") for pair in data.splits.train for side in pair
                       for p in side)
    assert scoring_kind("spm", data.tgt_vocab) == ("zh" if dataset == "cmn-eng" else "word")


def test_sentencepiece_takes_text_as_it_is(small):
    vocab = small.src_vocab
    for text in ["ﬁne  double  spaces", "Who will do it\u202f?", "  edges ", "a\tb",
                 "Привет, 世界! 🙂 mixed العربية scripts", "x" * 20000, "nul\x00char",
                 "<unk> <eos> <0xE2>", "", " "]:
        pieces = vocab.tokenize(text)
        assert vocab.detokenize(pieces) == text
        assert UNK not in vocab.encode(pieces)
    assert vocab.tokenize("") == []
    # the one exception, documented: sentencepiece's own space mark reads as a space
    assert vocab.detokenize(vocab.tokenize("a\u2581b")) == "a b"


@pytest.mark.parametrize("sentence, error, match", [
    (b"I am cold.", TypeError, "not bytes"),
    (None, TypeError, "takes a str"),
    ("bad \udcff text", ValueError, "surrogate"),
])
def test_tokenize_refuses_what_is_not_text(small, sentence, error, match):
    with pytest.raises(error, match=match):
        small.src_vocab.tokenize(sentence)


def test_tokenizer_names_need_the_model(small):
    assert tokenize_as("spm", small.src_vocab, "Hi.") == small.src_vocab.tokenize("Hi.")
    assert detokenize_as("word", small.src_vocab, ["hi", "."]) == "hi."
    with pytest.raises(TypeError, match="SubwordVocab"):
        tokenize_as("spm", Vocab(["a"]), "a")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokenize_as("bpe", small.src_vocab, "a")
    with pytest.raises(ValueError, match="not pieces of this model"):
        small.src_vocab.detokenize(["▁not-a-piece-at-all"])


@pytest.mark.parametrize("settings, match", [
    (dict(vocab_size=100), "use at least 261"),
    (dict(vocab_size=300), "too small .* use vocab_size >= "),
    (dict(vocab_size=50000), "too large .* use vocab_size <= "),
    (dict(subword_model="wordpiece"), "'unigram' .* or 'bpe'"),
    (dict(tokenizers=("word", "word"), vocab_size=1000), "neither tokenizer is 'spm'"),
    (dict(tokenizers=("spm", "word"), joint_vocab=True), "joint_vocab=True"),
    (dict(tokenizers=("spm", "sentencepiece")), "'spm'"),
    (dict(vocab_size=1000.0), "vocab_size must be an integer"),
])
def test_bad_settings_are_refused_with_what_to_do(settings, match, tmp_path, monkeypatch):
    require_corpus()
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    with pytest.raises((TypeError, ValueError), match=match) as info:
        load_translation(**{**SMALL, **settings})
    assert "INTERNAL" not in str(info.value)


def test_the_model_is_cached_by_key(monkeypatch, tmp_path, capsys):
    import s2s.subwords

    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    first = load_translation(**SMALL)
    files = sorted((tmp_path / "subwords").glob("*.model"))
    assert [f.name.split("-")[:2] for f in files] == [["fra", "eng"]] * 2
    assert {f.name.split("-")[2] for f in files} == {"source", "target"}
    assert not list((tmp_path / "subwords").glob("*.tmp"))

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(s2s.subwords, "train_sentencepiece", no_training)
    again = load_translation(**SMALL)
    assert again.src_vocab == first.src_vocab and again.tgt_vocab == first.tgt_vocab
    with pytest.raises(AssertionError, match="trained again"):  # another split: another key
        load_translation(**{**SMALL, "seed": 1})
    monkeypatch.undo()
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    files[0].write_bytes(b"not a model")
    repaired = load_translation(**SMALL)
    assert "unusable" in capsys.readouterr().out
    assert repaired.params == first.params
    joint = load_translation(**{**SMALL, "joint_vocab": True, "subword_model": "bpe"})
    assert joint.src_vocab == joint.tgt_vocab
    assert len(list((tmp_path / "subwords").glob("fra-eng-joint-*.model"))) == 1


# ---------------------------------------------------------------------------------------------
# A model on subwords: checkpoints, translation, judging, the command line


@pytest.fixture(scope="module")
def trained(small, tmp_path_factory):
    from s2s.chars import longest
    from s2s.models import ModelConfig, build_model
    from s2s.train import TrainConfig, fit

    torch.manual_seed(0)
    config = ModelConfig("luong", len(small.src_vocab), len(small.tgt_vocab), embed_size=32,
                         hidden_size=48, num_layers=1, dropout=0.0, attention="dot",
                         max_len=longest(small), tokenizers=("spm", "spm"))
    model = build_model(config, small.src_vocab, small.tgt_vocab)
    fit(model, small, TrainConfig(max_steps=40, lr=1e-2, batch_size=64, eval_every=20),
        progress=False)
    path = tmp_path_factory.mktemp("subword-model") / "model.pt"
    save_checkpoint(path, model)
    return model.eval(), path


SENTENCES = ["I am cold.", "Tom is here!", "Zürich 🙂 東京?"]


def test_a_checkpoint_translates_raw_text_in_a_fresh_process_without_the_data(trained,
                                                                                tmp_path):
    model, path = trained
    expected = translate(model, SENTENCES)
    empty_data, empty_cache = tmp_path / "data", tmp_path / "cache"
    empty_data.mkdir()
    script = textwrap.dedent(f"""
        import json
        from s2s.checkpoints import load_checkpoint
        from s2s import translate
        model = load_checkpoint({str(path)!r})
        print(json.dumps([translate(model, {SENTENCES!r}),
                          model.src_vocab.tokenize({SENTENCES[2]!r})]))
    """)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "utils"),
           "S2S_DATA_DIR": str(empty_data), "S2S_CACHE_DIR": str(empty_cache),
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    outputs, pieces = json.loads(out.stdout)
    assert outputs == expected and all(isinstance(o, str) for o in outputs)
    assert pieces == model.src_vocab.tokenize(SENTENCES[2])
    assert not empty_cache.exists() or not any(empty_cache.rglob("*"))


def test_a_checkpoint_keeps_the_model_and_refuses_another(trained, small):
    model, path = trained
    loaded = load_checkpoint(path, src_vocab=small.src_vocab, tgt_vocab=small.tgt_vocab)
    assert isinstance(loaded.src_vocab, SubwordVocab) and loaded.src_vocab == small.src_vocab
    other = SubwordVocab(train_sentencepiece([s for s, _ in small.texts.train], 400))
    with pytest.raises(ValueError, match="different src vocabulary"):
        load_checkpoint(path, src_vocab=other)
    saved = json.loads(small.src_vocab.to_json())
    saved["tokens"][5] = "edited"
    with pytest.raises(ValueError, match="damaged"):
        Vocab.from_json(json.dumps(saved))


def test_translate_judge_and_translator_on_subwords(trained, small):
    from s2s.chars import held_out
    from s2s.translator import nbest_with_attention

    model, _ = trained
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        translate(model, ["I am cold.", "   "])
    judged = judge(model, small, "test", max_sentences=20)
    assert judged.sources[0] == small.texts.test[0][0]  # raw text, case kept
    assert small.texts.test[0][1] in judged.references[0]
    assert 0 <= judged.bleu.score <= 100
    sources, references = held_out(small, "test", max_sentences=20)  # chapter 6's scoring
    assert sources == judged.sources
    assert references == [[r.lower() for r in refs] for refs in judged.references]
    shown = nbest_with_attention(model, "Zürich 🙂", beam_size=3, n_best=2)
    assert shown.weights is not None and shown.weights.shape[1] == len(shown.source)
    assert all(isinstance(text, str) for text, _ in shown.nbest)


CONFIG = """
[data]
dataset = "fra-eng"
max_len = 6
max_pairs = 2000
tokenizers = ["spm", "spm"]
vocab_size = 500
subword_model = "{model}"

[model]
kind = "rnn"
embed_size = 16
hidden_size = 32
num_layers = 1
dropout = 0.0

[train]
lr = 1e-2
batch_size = 64
max_steps = 10
eval_every = 5
precision = "fp32"

[output]
checkpoint = "run.pt"
"""


def test_the_command_line_trains_and_evaluates_a_subword_config(tmp_path, capsys,
                                                                 monkeypatch):
    from s2s.cli import main, read_config

    require_corpus()
    monkeypatch.setenv("S2S_QUIET", "1")
    config = tmp_path / "subword.toml"
    config.write_text(CONFIG.format(model="bpe"), encoding="utf-8")
    assert main(["train", str(config)]) == 0
    assert load_checkpoint(tmp_path / "run.pt").config.tokenizers == ("spm", "spm")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run.pt"), "--config", str(config),
                 "--max-sentences", "20"]) == 0
    out = capsys.readouterr().out
    assert "BLEU" in out and "chrF" in out
    config.write_text(CONFIG.format(model="wordpiece"), encoding="utf-8")
    assert main(["train", str(config)]) == 2
    assert "subword_model" in capsys.readouterr().err
    example = read_config(ROOT / "configs" / "subword-cpu.toml")
    assert example["data"]["tokenizers"] == ["spm", "spm"]
