"""BLEU and chrF: the library's sacrebleu wrappers, the teaching BLEU, and how d2l's BLEU
differs."""

from __future__ import annotations

import math
import random

import pytest
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

from d2l_oracle import load_d2l
from s2s.metrics import (
    Judged,
    bleu_tokenizer,
    corpus_bleu,
    corpus_chrf,
    ngrams,
    paired_test,
    seed_difference,
    seed_spread,
    teaching_bleu,
)


def random_corpus(seed: int, n: int = 40):
    rng = random.Random(seed)
    words = "le la un chat chien est sur dans maison petit grand .".split()
    hyps, refs = [], []
    for _ in range(n):
        ref_set = [[rng.choice(words) for _ in range(rng.randint(3, 10))]
                   for _ in range(rng.randint(1, 3))]
        hyp = [w if rng.random() < 0.7 else rng.choice(words) for w in rng.choice(ref_set)]
        hyps.append(hyp[: rng.randint(2, len(hyp))])
        refs.append(ref_set)
    return hyps, refs


def test_corpus_bleu_takes_a_variable_number_of_references():
    hyps = ["the cat is here .", "hello there"]
    refs = [["the cat is here .", "a cat is here ."], ["hello there friend"]]
    ours = corpus_bleu(hyps, refs)
    direct = sacrebleu.corpus_bleu(hyps, [[refs[0][0], refs[1][0]], [refs[0][1], None]])
    assert ours.score == pytest.approx(direct.score)
    assert "nrefs:var" in ours.signature and "tok:13a" in ours.signature
    assert corpus_bleu(["a b c d"], [["a b c d"]]).score == pytest.approx(100)


def test_corpus_bleu_scores_chinese_with_sacrebleus_zh_tokenisation():
    """Chinese is written without spaces: 13a would see each sentence as one or two words,
    sacrebleu's "zh" makes each Chinese character a token (what WMT reports)."""
    hyps = ["我很累。", "他在这里。", "我们迟到了"]
    refs = [["我累了。", "我很累。"], ["他在这儿。"], ["我们来晚了。"]]
    ours = corpus_bleu(hyps, refs, tokenize="zh")
    direct = sacrebleu.corpus_bleu(hyps, [[r[0] for r in refs], [refs[0][1], None, None]],
                                   tokenize="zh")
    assert ours.score == pytest.approx(direct.score) and "tok:zh" in ours.signature
    assert ours.score > corpus_bleu(hyps, refs).score  # 13a gives almost no n-gram credit
    assert bleu_tokenizer("zh") == "zh" and bleu_tokenizer("word") == "13a"
    with pytest.raises(ValueError, match="tokenize='intl'"):
        corpus_bleu(hyps, refs, tokenize="intl")


def test_corpus_bleu_rejects_bad_input():
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        corpus_bleu(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="at least one reference"):
        corpus_bleu(["a"], [[]])


def test_corpus_chrf_equals_sacrebleu_with_a_variable_number_of_references():
    hyps = ["le chat est là .", "bonjour", "il pleut"]
    refs = [["le chat est là .", "un chat est là ."], ["bonjour !"], ["il pleut .", "il pleut"]]
    ours = corpus_chrf(hyps, refs)
    direct = CHRF().corpus_score(hyps, [[r[0] for r in refs],
                                        [refs[0][1], None, refs[2][1]]])
    assert ours.score == pytest.approx(direct.score)
    assert "nrefs:var" in ours.signature and "nc:6" in ours.signature
    assert corpus_chrf(["a b c d"], [["a b c d"]]).score == pytest.approx(100)
    judged = Judged(corpus_bleu(hyps, refs), ["x"] * 3, hyps, refs)
    assert judged.chrf().score == pytest.approx(ours.score)


def test_chrf_gives_credit_to_a_word_that_is_almost_right():
    """One wrong ending: BLEU counts the word as wrong, chrF sees its shared characters."""
    ref = [["les petits chats noirs dorment ."]]
    near, far = ["les petits chat noir dorment ."], ["les petits xyzw qrst dorment ."]
    assert corpus_bleu(near, ref).score == pytest.approx(corpus_bleu(far, ref).score)
    assert corpus_chrf(near, ref).score > corpus_chrf(far, ref).score + 10


def test_corpus_chrf_rejects_bad_input():
    with pytest.raises(ValueError, match="corpus_chrf: 2 hypotheses but 1"):
        corpus_chrf(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="at least one reference"):
        corpus_chrf(["a"], [[]])
    with pytest.raises(TypeError, match="references\\[0\\] is a str"):
        corpus_chrf(["a"], ["a"])


@pytest.mark.parametrize("seed", range(5))
def test_teaching_bleu_equals_sacrebleu_on_the_same_tokens(seed):
    hyps, refs = random_corpus(seed)
    width = max(len(r) for r in refs)
    streams = [[" ".join(r[k]) if k < len(r) else None for r in refs] for k in range(width)]
    expected = BLEU(tokenize="none", smooth_method="none").corpus_score(
        [" ".join(h) for h in hyps], streams).score
    assert teaching_bleu(hyps, refs) == pytest.approx(expected, abs=1e-9)


def test_d2l_bleu_weights_ngrams_by_powers_of_a_half():
    """d2l.bleu is a sentence-level score with one reference whose n-gram precisions are
    weighted p_n ** (1/2**n) instead of the standard geometric mean p_n ** (1/4)."""
    d2l = load_d2l()
    pred, label = "le chat est sur le tapis rouge .", "le chat est sur le tapis ."
    p, l_ = pred.split(), label.split()
    precisions = [sum(min(c, ngrams(l_, n)[g]) for g, c in ngrams(p, n).items())
                  / (len(p) - n + 1) for n in range(1, 5)]
    brevity = math.exp(min(0.0, 1 - len(l_) / len(p)))
    d2l_formula = brevity * math.prod(pn ** (0.5 ** n) for n, pn in enumerate(precisions, 1))
    assert d2l.bleu(pred, label, k=4) == pytest.approx(d2l_formula)
    standard = teaching_bleu([p], [[l_]]) / 100
    assert standard == pytest.approx(brevity * math.prod(pn ** 0.25 for pn in precisions))
    assert 0 < standard < d2l.bleu(pred, label, k=4)  # d2l's is more lenient: 0.71 vs 0.79


# ---------------------------------------------------------------------------------------------
# Significance: sacrebleu's paired tests, and spread over seeds

REFS = ["the cat sat on the mat", "a dog ran fast", "hello world", "it is raining today",
        "we are late again", "she reads a book", "the house is big", "i like green tea"]
REFS_2 = ["a cat sat on the mat", "the dog ran fast", "hello everybody", "it rains today",
          "we are late once more", "she is reading a book", "the house is large",
          "i love green tea"]
BASE = ["the cat sat on mat", "a dog ran", "hello world", "it rains today", "we late again",
        "she reads book", "house is big", "i like tea"]
SYSTEM = ["the cat sat on the mat", "a dog ran quickly", "hello there world", "it is raining",
          "we are late again", "she reads a book", "the house is big", "i like green tea"]


def sacrebleu_cli(tmp_path, *args: str) -> str:
    """Run sacrebleu's own command line on REFS/REFS_2 with BASE as the baseline, SYSTEM as
    the system; its stdout."""
    import subprocess
    import sys

    files = {}
    for name, lines in (("ref", REFS), ("ref2", REFS_2), ("base", BASE), ("sys", SYSTEM)):
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "sacrebleu", str(files["ref"]), str(files["ref2"]),
                          "-i", str(files["base"]), str(files["sys"]), *args],
                         capture_output=True, text=True, check=True)
    return out.stdout


def test_paired_randomization_equals_sacrebleus_command_line(tmp_path):
    import json

    out = json.loads(sacrebleu_cli(tmp_path, "-m", "bleu", "chrf", "--paired-ar",
                                   "--paired-ar-n", "2000", "-f", "json"))
    refs = [list(pair) for pair in zip(REFS, REFS_2, strict=True)]
    for metric, name in (("bleu", "BLEU"), ("chrf", "chrF2")):
        ours = paired_test(BASE, SYSTEM, refs, metric=metric, method="randomization",
                           samples=2000)
        assert ours.metric == name and ours.samples == 2000
        assert ours.baseline == pytest.approx(out[0][name]["score"])
        assert ours.system == pytest.approx(out[1][name]["score"])
        assert ours.p_value == pytest.approx(out[1][name]["p_value"])
        assert ours.system_ci is None  # randomization estimates no interval


def test_paired_bootstrap_equals_sacrebleus_command_line(tmp_path):
    """sacrebleu's JSON output fails on the bootstrap's numpy floats, so its table is read."""
    import re

    table = sacrebleu_cli(tmp_path, "-m", "bleu", "--paired-bs", "-w", "4", "-f", "text")
    numbers = [float(x) for x in re.findall(r"\d+\.\d{4}", table.split("----")[0])]
    base_score, base_mean, base_ci, score, mean, ci, p = numbers[:7]
    refs = [list(pair) for pair in zip(REFS, REFS_2, strict=True)]
    ours = paired_test(BASE, SYSTEM, refs)
    assert (ours.method, ours.samples) == ("bootstrap", 1000)
    assert ours.baseline == pytest.approx(base_score, abs=1e-4)
    assert ours.system == pytest.approx(score, abs=1e-4)
    assert ours.difference == pytest.approx(score - base_score, abs=2e-4)
    assert ours.baseline_ci == pytest.approx((base_mean, base_ci), abs=1e-4)
    assert ours.system_ci == pytest.approx((mean, ci), abs=1e-4)
    assert ours.p_value == pytest.approx(p, abs=1e-4)
    assert "bs:1000" in ours.signature and "nrefs:2" in ours.signature


@pytest.mark.parametrize("method", ["bootstrap", "randomization"])
def test_identical_systems_are_not_significantly_different(method):
    """sacrebleu itself reports p = 1/(samples + 1) when every resample ties (it counts
    strictly greater statistics): paired_test says p = 1."""
    refs = [[r] for r in REFS]
    result = paired_test(SYSTEM, list(SYSTEM), refs, method=method, samples=500)
    assert result.p_value == 1.0 and not result.significant()
    assert result.difference == 0.0
    unrelated = ["x y", "z", "w v u", "t", "s r", "q", "p o", "n"]  # BLEU 0, other outputs
    zero = paired_test(unrelated, unrelated[::-1], refs, method=method, samples=500)
    assert (zero.baseline, zero.system, zero.p_value) == (0.0, 0.0, 1.0)


@pytest.mark.parametrize("method", ["bootstrap", "randomization"])
def test_a_clearly_better_system_gets_a_small_p_value(method):
    rng = random.Random(0)
    words = "le la un chat chien est sur dans maison petit grand vert rouge".split()
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 9))) for _ in range(120)]
    good = [r if i % 4 else " ".join(r.split()[:-1]) for i, r in enumerate(refs)]  # 3/4 exact
    bad = [" ".join(rng.choice(words) for _ in r.split()) for r in refs]  # random words
    result = paired_test(bad, good, [[r] for r in refs], method=method, samples=1000)
    assert result.difference > 50
    assert result.p_value < 0.01 and result.significant()
    chrf = paired_test(bad, good, [[r] for r in refs], metric="chrf", method=method)
    assert chrf.metric == "chrF2" and chrf.p_value < 0.01


def test_paired_test_refuses_bad_input_naming_the_argument():
    refs = [[r] for r in REFS]
    with pytest.raises(ValueError, match="system has 7 hypotheses, baseline 8"):
        paired_test(BASE, SYSTEM[:7], refs)
    with pytest.raises(ValueError, match="baseline is empty"):
        paired_test([], [], [])
    with pytest.raises(ValueError, match="method='ttest'"):
        paired_test(BASE, SYSTEM, refs, method="ttest")
    with pytest.raises(ValueError, match="metric='ter'"):
        paired_test(BASE, SYSTEM, refs, metric="ter")
    with pytest.raises(ValueError, match="samples=0"):
        paired_test(BASE, SYSTEM, refs, samples=0)
    with pytest.raises(TypeError, match="references\\[0\\] is a str"):
        paired_test(BASE, SYSTEM, REFS)
    with pytest.raises(ValueError, match="8 hypotheses but 7 reference lists"):
        paired_test(BASE, SYSTEM, refs[:7])


def test_seed_spread_gives_mean_std_and_an_interval_of_the_mean():
    import statistics

    spread = seed_spread([10.0, 12.0, 11.0, 13.0])
    assert spread.mean == pytest.approx(11.5)
    assert spread.std == pytest.approx(statistics.stdev([10.0, 12.0, 11.0, 13.0]))
    assert spread.spread == 3.0
    assert 10.0 <= spread.low < spread.mean < spread.high <= 13.0
    assert seed_spread([10.0, 12.0, 11.0, 13.0]) == spread  # seeded: reproducible
    same = seed_spread([7.0, 7.0, 7.0])
    assert (same.std, same.low, same.high) == (0.0, 7.0, 7.0)


def test_seed_difference_separates_arms_only_beyond_the_seed_spread():
    far = seed_difference([10.0, 10.5, 11.0], [14.0, 14.5, 15.2])
    assert far.difference == pytest.approx(14.5667 - 10.5, abs=1e-3)
    assert far.excludes_zero() and far.low > 0
    assert far.p_value == pytest.approx(0.1) and far.smallest_p == pytest.approx(0.1)
    near = seed_difference([10.0, 12.0, 11.0], [11.5, 10.5, 12.5])
    assert not near.excludes_zero() and near.p_value > 0.5
    same = seed_difference([10.0, 12.0, 11.0], [10.0, 12.0, 11.0])
    assert same.difference == 0.0 and same.p_value == 1.0
    assert seed_difference([1.0, 2.0], [3.0, 4.0, 5.0]).smallest_p == pytest.approx(0.1)


@pytest.mark.parametrize("call, message", [
    (lambda: seed_spread([]), "scores has 0 score"),
    (lambda: seed_spread([12.0]), "scores has 1 score"),
    (lambda: seed_spread([1.0, float("nan")]), "scores\\[1\\] = nan"),
    (lambda: seed_difference([1.0], [2.0, 3.0]), "baseline has 1 score"),
    (lambda: seed_difference([1.0, 2.0], [3.0]), "system has 1 score"),
    (lambda: seed_difference([1.0, 2.0], [3.0, True]), "system\\[1\\] = True"),
])
def test_spread_over_seeds_refuses_fewer_than_two_seeds_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    with pytest.raises(TypeError, match="scores must be a list"):
        seed_spread(12.0)
