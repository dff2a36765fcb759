"""Judging translations: corpus BLEU and chrF with sacrebleu, on detokenised text, many
references.

BLEU counts word n-grams; chrF (Popović, 2015) is the F-score of character n-grams (1 to 6,
recall weighted twice as much as precision), which gives partial credit to a word that is
almost right — a fairer judge of character-level output. Chapter 3 also builds BLEU from
scratch for teaching and checks it against this."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

from sacrebleu.metrics import BLEU, CHRF, BLEUScore, CHRFScore

from s2s.arguments import check_int


@dataclass
class Bleu:
    """A corpus BLEU score with the sacrebleu signature that makes it reproducible."""

    score: float
    signature: str
    details: BLEUScore

    def __str__(self) -> str:
        return f"{self.details} | {self.signature}"


@dataclass
class ChrF:
    """A corpus chrF score with its sacrebleu signature."""

    score: float
    signature: str
    details: CHRFScore

    def __str__(self) -> str:
        return f"{self.details} | {self.signature}"


def _streams(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
             where: str) -> list[list[str | None]]:
    """The references as sacrebleu wants them: one stream per reference position, None where
    a sentence has fewer references than the most any sentence has."""
    _check_corpus(hypotheses, references, "str", where)
    if len(hypotheses) != len(references):
        raise ValueError(f"{where}: {len(hypotheses)} hypotheses but {len(references)} "
                         "reference lists: give one list of references per hypothesis")
    if not hypotheses:
        raise ValueError(f"{where}: no sentences (hypotheses and references are empty): a "
                         "corpus score needs at least one translated sentence")
    if any(len(r) == 0 for r in references):
        raise ValueError(f"{where}: every hypothesis needs at least one reference")
    width = max((len(r) for r in references), default=0)
    return [[r[k] if k < len(r) else None for r in references] for k in range(width)]


BLEU_TOKENIZERS = ("13a", "zh")


def bleu_tokenizer(target_tokenizer: str) -> str:
    """sacrebleu's tokenisation for a target side tokenised by `target_tokenizer` (the data's
    name, s2s.text.TOKENIZERS): "zh" for Chinese (each Chinese character a token, as WMT scores
    Chinese), "13a" otherwise."""
    return "zh" if target_tokenizer == "zh" else "13a"


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                tokenize: str = "13a") -> Bleu:
    """sacrebleu corpus BLEU (standard settings; tokenisation 13a, or "zh" for Chinese).

    hypotheses: one detokenised string per test sentence.
    references: per test sentence, its list of references (any number, at least one)."""
    if tokenize not in BLEU_TOKENIZERS:
        raise ValueError(f"corpus_bleu(tokenize={tokenize!r}): choose one of "
                         f"{', '.join(BLEU_TOKENIZERS)} (\"zh\" for a Chinese target)")
    streams = _streams(hypotheses, references, "corpus_bleu")
    metric = BLEU(tokenize=tokenize)
    details = metric.corpus_score(list(hypotheses), streams)
    return Bleu(details.score, str(metric.get_signature()), details)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> ChrF:
    """sacrebleu corpus chrF (character 6-grams, beta = 2, spaces ignored): arguments as for
    `corpus_bleu`; with several references, each sentence is scored against its best one."""
    streams = _streams(hypotheses, references, "corpus_chrf")
    metric = CHRF()
    details = metric.corpus_score(list(hypotheses), streams)
    return ChrF(details.score, str(metric.get_signature()), details)


def _check_corpus(hypotheses: object, references: object, unit: str, where: str) -> None:
    """Hypotheses: a list of `unit` (a str, or a token list); references: a list of lists of
    `unit`. A plain str where a list belongs would be read character by character: refused."""
    def is_unit(x: object) -> bool:
        if unit == "str":
            return isinstance(x, str)
        return (not isinstance(x, str) and isinstance(x, Sequence)
                and all(isinstance(t, str) for t in x))

    shape = "a str" if unit == "str" else "a token list"
    for name, value in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise TypeError(f"{where}: {name} must be a list (one entry per sentence), got a "
                            f"{type(value).__name__}")
    for i, hyp in enumerate(hypotheses):
        if not is_unit(hyp):
            raise TypeError(f"{where}: hypotheses[{i}] must be {shape}, got {hyp!r:.60}")
    for i, refs in enumerate(references):
        if isinstance(refs, str) or (unit != "str" and is_unit(refs) and refs):
            raise TypeError(f"{where}: references[{i}] is {shape} ({refs!r:.60}), not a list of "
                            f"references: give each sentence a list, e.g. [[ref] for ref in "
                            "refs] for one reference each")
        if not isinstance(refs, Sequence) or not all(is_unit(r) for r in refs):
            raise TypeError(f"{where}: references[{i}] must be a list of {shape.split(' ', 1)[1]}"
                            f" references, got {refs!r:.60}")


@dataclass
class Judged:
    """A model's translations of held-out sentences and their BLEU."""

    bleu: Bleu
    sources: list[str]
    hypotheses: list[str]
    references: list[list[str]]

    def chrf(self) -> ChrF:
        """The same translations scored with chrF (`corpus_chrf`)."""
        return corpus_chrf(self.hypotheses, self.references)

    def examples(self, n: int = 5) -> str:
        lines = []
        for src, hyp, refs in list(zip(self.sources, self.hypotheses, self.references,
                                       strict=True))[:n]:
            lines += [f"source:     {src}", f"model:      {hyp}",
                      *[f"reference:  {r}" for r in refs[:3]], ""]
        return "\n".join(lines)


def bleu_by_length(judged: Judged, edges: Sequence[int]) -> list[tuple[str, int, float]]:
    """Corpus BLEU of the sentences whose source has lengths in each bucket [edges[i],
    edges[i+1]) words (punctuation counts as a word, as in the data). Returns
    (label, number of sentences, BLEU) per non-empty bucket."""
    from s2s.text import tokenize_words

    if not isinstance(judged, Judged):
        raise TypeError(f"bleu_by_length(judged=...) must be what judge returns (a Judged), got "
                        f"{type(judged).__name__}")
    _check_edges(edges)
    lengths = [len(tokenize_words(s)) for s in judged.sources]
    out = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        idx = [i for i, n in enumerate(lengths) if low <= n < high]
        if idx:
            score = corpus_bleu([judged.hypotheses[i] for i in idx],
                                [judged.references[i] for i in idx]).score
            out.append((f"{low}-{high - 1}", len(idx), score))
    return out


def _check_edges(edges: object) -> None:
    """Bucket edges: at least two integers (a float would give odd labels), some pair of them
    increasing. A pair that does not increase is an empty bucket, left out like any empty one
    (the chapters' [..., 10, max_len + 1] at max_len 8); edges with no increasing pair at all
    would silently give no bucket."""
    where = "bleu_by_length(edges=...)"
    example = "e.g. [1, 4, 6, 8, 10, max_len + 1]"
    if isinstance(edges, str) or not isinstance(edges, Sequence):
        raise TypeError(f"{where} must be a list of lengths, got {type(edges).__name__}: "
                        f"{example}")
    if len(edges) < 2:
        raise ValueError(f"{where} needs at least two lengths (a bucket lies between two), got "
                         f"{list(edges)}: {example}")
    for i, edge in enumerate(edges):
        check_int(f"bleu_by_length(edges[{i}]=...)", edge, low=0, hint=example)
    if all(a >= b for a, b in zip(edges[:-1], edges[1:], strict=True)):
        raise ValueError(f"{where} must increase, got {list(edges)}, which leaves every bucket "
                         f"empty: {example}")


SEARCH_SETTINGS = ("max_len", "batch_size", "beam_size", "length_penalty", "alpha")  # translate's


def judge(model, data, split: str = "test", max_sentences: int | None = None,
          **search) -> Judged:
    """Translate the distinct sources of a held-out split (greedy, or beam search with
    `beam_size=...` and `length_penalty=...`, see `s2s.translate`) and score them against all
    their references with sacrebleu (detokenised: lower-cased as word-level data is, the
    corpus's own text for an "spm" side; BLEU with sacrebleu's "zh" tokenisation when the
    target is Chinese, "spm" pieces of Chinese included)."""
    from s2s.data import TranslationData
    from s2s.decoding import check_materialised, translate
    from s2s.subwords import detokenize_as, scoring_kind

    check_materialised(model, "judge")
    if not isinstance(data, TranslationData):
        raise TypeError(f"judge(data=...) must be the model's TranslationData (from "
                        f"s2s.data.load_translation), got {type(data).__name__}")
    if split not in ("train", "valid", "test"):
        raise ValueError(f"judge(split={split!r}): choose 'valid' (to choose settings) or "
                         "'test' (the final judgement), or 'train'")
    check_int("judge(max_sentences=...)", max_sentences, low=1, none_ok=True,
              hint="the number of distinct held-out sources to translate; None: all of them")
    unknown = sorted(set(search) - set(SEARCH_SETTINGS))
    if unknown:
        raise TypeError(f"judge({unknown[0]}=...) is not a search setting: the settings are "
                        f"{', '.join(SEARCH_SETTINGS)} (see s2s.translate)")
    data.check_vocabularies(model, "judge")
    groups = data.references(split)[:max_sentences]
    src_kind, tgt_kind = data.tokenizers
    sources = [detokenize_as(src_kind, data.src_vocab, src) for src, _ in groups]
    references = [[detokenize_as(tgt_kind, data.tgt_vocab, r) for r in refs]
                  for _, refs in groups]
    hypotheses = translate(model, sources, **search)
    bleu = corpus_bleu(hypotheses, references,
                       tokenize=bleu_tokenizer(scoring_kind(tgt_kind, data.tgt_vocab)))
    return Judged(bleu, sources, hypotheses, references)


# ---------------------------------------------------------------------------------------------
# BLEU from scratch (Papineni et al. 2002), for teaching: corpus-level, clipped n-gram counts
# against several references, brevity penalty against the closest reference length.


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    """Counts of the n-grams of a token list."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def teaching_bleu(hypotheses: Sequence[Sequence[str]],
                  references: Sequence[Sequence[Sequence[str]]], max_n: int = 4) -> float:
    """Corpus BLEU on token lists, 0-100. Equals sacrebleu with `tokenize="none"` and no
    smoothing on the same tokens (a test checks it).

    hypotheses: one token list per sentence; references: per sentence, its token lists."""
    _check_corpus(hypotheses, references, "tokens", "teaching_bleu")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise ValueError("teaching_bleu: no sentences (hypotheses and references are empty): a "
                         "corpus score needs at least one translated sentence")
    if any(len(r) == 0 for r in references):
        raise ValueError("every hypothesis needs at least one reference")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references, strict=True):
        hyp_len += len(hyp)
        # the closest reference length (the shorter one on a tie)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
        for n in range(1, max_n + 1):
            most_in_a_ref: Counter = Counter()
            for ref in refs:
                most_in_a_ref |= ngrams(ref, n)  # per n-gram: the max count in any reference
            counts = ngrams(hyp, n)
            matches[n - 1] += sum(min(c, most_in_a_ref[g]) for g, c in counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / max_n
    brevity = 0.0 if hyp_len > ref_len else 1 - ref_len / hyp_len
    return 100 * math.exp(brevity + log_precision)


# ---------------------------------------------------------------------------------------------
# Telling a difference from noise. Two systems on the same sentences: sacrebleu's paired tests
# (what its command line's --paired-bs / --paired-ar run). Arms trained from different seeds:
# the mean, the spread and a bootstrap interval over seeds, and a permutation test.

PAIRED_METHODS = {"bootstrap": "bs", "randomization": "ar"}  # ours -> sacrebleu's test_type


@dataclass(frozen=True)
class PairedResult:
    """sacrebleu's paired test of `system` against `baseline` on the same sentences.

    p_value: two-sided, the chance of a difference at least this large if the two systems were
    exchangeable. The bootstrap also estimates each system's mean score over resamples and the
    half-width of its 95 % interval (sacrebleu's `mean ± ci`); randomization gives None."""

    metric: str  # sacrebleu's name: "BLEU" or "chrF2"
    method: str  # "bootstrap" or "randomization"
    baseline: float  # corpus scores
    system: float
    p_value: float
    baseline_ci: tuple[float, float] | None  # (mean, half-width) over bootstrap resamples
    system_ci: tuple[float, float] | None
    samples: int
    signature: str

    @property
    def difference(self) -> float:
        return self.system - self.baseline

    def significant(self, level: float = 0.05) -> bool:
        return self.p_value < level


def paired_test(baseline: Sequence[str], system: Sequence[str],
                references: Sequence[Sequence[str]], *, metric: str = "bleu",
                method: str = "bootstrap", samples: int | None = None,
                tokenize: str = "13a") -> PairedResult:
    """Is `system` better or worse than `baseline` on these sentences, beyond chance?

    baseline, system: one detokenised hypothesis per sentence, the same sentences in the same
    order; references: per sentence, its list of references (any number, at least one).
    metric: "bleu" (with `tokenize`, "zh" for Chinese) or "chrf". method: "bootstrap" (paired
    bootstrap resampling, Koehn 2004; 1,000 resamples by default) or "randomization"
    (approximate randomization, Riezler and Maxwell 2005; 10,000 trials by default).
    sacrebleu's seed is fixed (12345, its SACREBLEU_SEED), so the result is reproducible.

    One deviation: sacrebleu counts the resamples whose statistic is strictly greater than the
    observed one, so when every resample ties (identical outputs, or two systems that both
    score 0) it reports p = 1/(samples + 1), "a significant difference". An observed
    difference of exactly 0 gives p = 1 here."""
    from sacrebleu.significance import PairedTest

    where = "paired_test"
    _check_corpus(baseline, references, "str", where)
    _check_corpus(system, references, "str", where)
    if not baseline:
        raise ValueError(f"{where}: baseline is empty: give one hypothesis per sentence")
    if len(system) != len(baseline):
        raise ValueError(f"{where}: system has {len(system)} hypotheses, baseline "
                         f"{len(baseline)}: a paired test needs both systems' outputs for the "
                         "same sentences, in the same order")
    if not isinstance(method, str) or method not in PAIRED_METHODS:
        raise ValueError(f"{where}: method={method!r}: choose 'bootstrap' or 'randomization'")
    if metric not in ("bleu", "chrf"):
        raise ValueError(f"{where}: metric={metric!r}: choose 'bleu' or 'chrf'")
    if tokenize not in BLEU_TOKENIZERS:
        raise ValueError(f"{where}: tokenize={tokenize!r}: choose one of "
                         f"{', '.join(BLEU_TOKENIZERS)}")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                or samples < 1):
        raise ValueError(f"{where}: samples={samples!r} must be a positive integer (None: "
                         "sacrebleu's default, 1,000 resamples or 10,000 trials)")
    streams = _streams(system, references, where)
    scorer = BLEU(tokenize=tokenize) if metric == "bleu" else CHRF()
    test = PairedTest([("baseline", list(baseline)), ("system", list(system))],
                      {metric: scorer}, streams, test_type=PAIRED_METHODS[method],
                      n_samples=samples or 0)
    signatures, scores = test()
    (name,) = signatures
    base, other = scores[name]
    p_value = 1.0 if other.score == base.score else float(other.p_value)

    def interval(result) -> tuple[float, float] | None:
        return None if result.mean is None else (float(result.mean), float(result.ci))

    return PairedResult(name, method, float(base.score), float(other.score), p_value,
                        interval(base), interval(other), test.n_samples,
                        str(signatures[name]))


@dataclass(frozen=True)
class SeedSpread:
    """A score over runs that differ only in their seed: mean, standard deviation (n - 1),
    smallest and largest, and a percentile bootstrap 95 % interval of the mean."""

    values: tuple[float, ...]
    mean: float
    std: float
    low: float  # the bootstrap interval of the mean
    high: float

    @property
    def spread(self) -> float:
        """Largest minus smallest."""
        return max(self.values) - min(self.values)


@dataclass(frozen=True)
class SeedDifference:
    """`system` minus `baseline`, arms trained from different seeds: the difference of the
    means, its percentile bootstrap 95 % interval (seeds resampled within each arm), and the
    two-sided p-value of an exact permutation test (the arms' labels shuffled over all runs).
    With 3 seeds per arm the permutation p-value cannot fall below 2/20 = 0.1: it can say
    that seeds do not separate the arms, not that 3 seeds prove a small effect."""

    difference: float
    low: float
    high: float
    p_value: float
    smallest_p: float  # the smallest p-value the permutation test can give with these counts

    def excludes_zero(self) -> bool:
        """The interval lies on one side of 0: the bootstrap's verdict of a difference."""
        return self.low > 0 or self.high < 0


def _seed_scores(values: object, name: str, where: str):
    import numpy as np

    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{where}: {name} must be a list of scores, one per seed, got "
                        f"{type(values).__name__}")
    if len(values) < 2:
        raise ValueError(f"{where}: {name} has {len(values)} score(s): give one per seed, at "
                         "least 2 (one run has no spread; 3 or more to decide anything)")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
            raise ValueError(f"{where}: {name}[{i}] = {v!r} is not a finite number")
    return np.asarray(values, dtype=float)


def _check_resampling(where: str, samples: object, seed: object) -> None:
    check_int(f"{where}(samples=...)", samples, low=1,
              hint="the number of bootstrap resamples, e.g. 10_000")
    check_int(f"{where}(seed=...)", seed, low=0, none_ok=True,
              hint="the resampling's seed, e.g. 0; None: a fresh one each call")


def seed_spread(scores: Sequence[float], *, samples: int = 10_000, seed: int = 0) -> SeedSpread:
    """Mean, spread and bootstrap 95 % interval of the mean of `scores` (one per seed, >= 2)."""
    import numpy as np

    values = _seed_scores(scores, "scores", "seed_spread")
    _check_resampling("seed_spread", samples, seed)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(len(values), size=(samples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return SeedSpread(tuple(values.tolist()), float(values.mean()), float(values.std(ddof=1)),
                      float(low), float(high))


def seed_difference(baseline: Sequence[float], system: Sequence[float], *,
                    samples: int = 10_000, seed: int = 0) -> SeedDifference:
    """mean(system) - mean(baseline) over seeds (>= 2 each; the runs need not pair up), with a
    bootstrap 95 % interval and an exact permutation p-value (see `SeedDifference`)."""
    from itertools import combinations

    import numpy as np

    base = _seed_scores(baseline, "baseline", "seed_difference")
    other = _seed_scores(system, "system", "seed_difference")
    _check_resampling("seed_difference", samples, seed)
    rng = np.random.default_rng(seed)
    boot = (other[rng.integers(len(other), size=(samples, len(other)))].mean(axis=1)
            - base[rng.integers(len(base), size=(samples, len(base)))].mean(axis=1))
    low, high = np.percentile(boot, [2.5, 97.5])
    observed = other.mean() - base.mean()
    pooled, k = np.concatenate([other, base]), len(other)
    splits = list(combinations(range(len(pooled)), k))  # every relabelling of the runs
    if len(splits) > samples:  # too many to enumerate: a random sample of them
        splits = [rng.choice(len(pooled), size=k, replace=False) for _ in range(samples)]
    total = pooled.sum()
    extreme = 0
    for chosen in splits:
        picked = pooled[list(chosen)].sum()
        diff = picked / k - (total - picked) / (len(pooled) - k)
        extreme += abs(diff) >= abs(observed) - 1e-12
    ties = 2 if len(other) == len(base) else 1  # equal arms: both extremes are as extreme
    return SeedDifference(float(observed), float(low), float(high), extreme / len(splits),
                          ties / math.comb(len(pooled), k))
