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

from sacrebleu.metrics import BLEU, CHRF, BLEUScore, CHRFScore


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

    lengths = [len(tokenize_words(s)) for s in judged.sources]
    out = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        idx = [i for i, n in enumerate(lengths) if low <= n < high]
        if idx:
            score = corpus_bleu([judged.hypotheses[i] for i in idx],
                                [judged.references[i] for i in idx]).score
            out.append((f"{low}-{high - 1}", len(idx), score))
    return out


def judge(model, data, split: str = "test", max_sentences: int | None = None,
          **search) -> Judged:
    """Translate the distinct sources of a held-out split (greedy, or beam search with
    `beam_size=...` and `length_penalty=...`, see `s2s.translate`) and score them against all
    their references with sacrebleu (detokenised, lower-cased as the data is; BLEU with
    sacrebleu's "zh" tokenisation when the target is Chinese)."""
    from s2s.decoding import translate
    from s2s.text import detokenize

    data.check_vocabularies(model, "judge")
    groups = data.references(split)[:max_sentences]
    src_kind, tgt_kind = data.tokenizers
    sources = [detokenize(src, src_kind) for src, _ in groups]
    references = [[detokenize(r, tgt_kind) for r in refs] for _, refs in groups]
    hypotheses = translate(model, sources, **search)
    bleu = corpus_bleu(hypotheses, references, tokenize=bleu_tokenizer(tgt_kind))
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
