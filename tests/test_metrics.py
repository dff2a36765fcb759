"""BLEU and chrF: the library's sacrebleu wrappers, the teaching BLEU, and how d2l's BLEU
differs."""

from __future__ import annotations

import math
import random

import pytest
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

from d2l_oracle import load_d2l
from s2s.metrics import Judged, bleu_tokenizer, corpus_bleu, corpus_chrf, ngrams, teaching_bleu


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
