"""Character level next to word level: the same sentence pairs at both, judged alike.

    load_translation(tokenizers=("char", "char"))  --word_level_twin-->  the same pairs, the
    same splits, in the same order, as word tokens (vocabularies from the twin's train split)

Two separate `load_translation` calls would not give the same held-out sentences: `max_len`
counts tokens, so a character limit and a word limit keep different pairs, and the split by
source sentence shuffles whatever groups remain. `word_level_twin` re-tokenises the character
data's own splits instead: each pair's characters are joined back into its text, which
`tokenize_words` splits as every word-level chapter does.

`held_out` and `judge_texts` score a character model and a word model on the same sentences
against the same references: the references' text lower-cased (the word level lower-cases its
data, so a cased character output would otherwise lose points the word model cannot), and the
outputs lower-cased too. sacrebleu's BLEU tokenises punctuation itself and chrF ignores spaces,
so the word level's detokenised "c'est?" and the text's "c'est ?" score alike."""

from __future__ import annotations

import re
from collections.abc import Sequence

from s2s.data import Splits, TranslationData
from s2s.metrics import Judged, corpus_bleu
from s2s.subwords import detokenize_as
from s2s.text import Tokens, tokenize_words
from s2s.vocab import SPECIALS, UNK, Vocab

SPLITS = ("train", "valid", "test")


def word_level_twin(chars: TranslationData, min_freq: int | None = None, *,
                    verbose: bool = True) -> TranslationData:
    """The pairs of a character-level `TranslationData`, in the same splits and the same
    order, tokenised into words (`tokenize_words`: lower-cased, punctuation split off).

    chars: data whose tokenizers are ("char", "char"). min_freq: for the word vocabularies,
    built from the twin's train split (default: the one `chars` was built with). The twin's
    `params` say how it was made, so its cache keys differ from any other data's."""
    if tuple(chars.tokenizers) != ("char", "char"):
        raise ValueError(f"word_level_twin takes character-level data (tokenizers ('char', "
                         f"'char')), got tokenizers {tuple(chars.tokenizers)}: load it with "
                         "load_translation(..., tokenizers=('char', 'char'))")
    min_freq = chars.params.get("min_freq", 2) if min_freq is None else min_freq
    parts = {split: [(tokenize_words("".join(src)), tokenize_words("".join(tgt)))
                     for src, tgt in getattr(chars.splits, split)] for split in SPLITS}
    splits = Splits(**parts)
    src_vocab = Vocab.build([s for s, _ in splits.train], min_freq)
    tgt_vocab = Vocab.build([t for _, t in splits.train], min_freq)
    for side, vocab in (("source", src_vocab), ("target", tgt_vocab)):
        if len(vocab) == len(SPECIALS):
            raise ValueError(f"min_freq={min_freq} leaves the word-level {side} vocabulary "
                             "with no word: lower min_freq")
    if verbose:
        print(f"word level of the same {sum(len(p) for p in parts.values()):,} pairs: vocab "
              f"{len(src_vocab):,} source / {len(tgt_vocab):,} target words "
              f"(min_freq={min_freq})")
    params = {**chars.params, "tokenizers": ["word", "word"], "min_freq": min_freq,
              "retokenized_from": "char"}
    return TranslationData(chars.release, chars.report, splits, src_vocab, tgt_vocab,
                           ("word", "word"), params)


def longest(data: TranslationData) -> int:
    """The most tokens on either side of any pair of `data`, in any split."""
    return max(max(len(s), len(t)) for split in SPLITS for s, t in getattr(data.splits, split))


def held_out(data: TranslationData, split: str,
             max_sentences: int | None = None) -> tuple[list[str], list[list[str]]]:
    """The distinct sources of `split` as text (case kept: what a model is given) and, per
    source, all its references as lower-cased text (what both levels are scored against).

    With character-level data, the text is exactly the corpus's (spaces normalised); with
    subword ("spm") data, exactly the corpus's."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    groups = data.references(split)[:max_sentences]
    src_kind, tgt_kind = data.tokenizers
    sources = [detokenize_as(src_kind, data.src_vocab, src) for src, _ in groups]
    references = [[detokenize_as(tgt_kind, data.tgt_vocab, r).lower() for r in refs]
                  for _, refs in groups]
    return sources, references


def judge_texts(model, sources: Sequence[str], references: Sequence[Sequence[str]],
                **search: object) -> Judged:
    """Translate `sources` (greedy, or beam search with `beam_size=...`, as `s2s.translate`),
    lower-case the outputs, and score them with sacrebleu against `references` (lower-cased
    text, one list per source: `held_out`'s). `Judged.chrf()` gives chrF."""
    from s2s.decoding import translate

    hypotheses = [h.lower() for h in translate(model, list(sources), **search)]
    refs = [list(r) for r in references]
    return Judged(corpus_bleu(hypotheses, refs), list(sources), hypotheses, refs)


def unknown_rate(vocab: Vocab, sentences: Sequence[Tokens]) -> float:
    """The fraction of the tokens of `sentences` (token lists) that `vocab` maps to `<unk>`."""
    ids = [i for sentence in sentences for i in vocab.encode(sentence)]
    return sum(i == UNK for i in ids) / max(len(ids), 1)


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def names_and_numbers(text: str) -> list[str]:
    """The words of `text` that a translation would copy: those with a digit, and capitalised
    words that do not start the sentence (names, mostly). Case kept, in order."""
    found = []
    for i, match in enumerate(_WORD.finditer(text)):
        word = match.group()
        if any(ch.isdigit() for ch in word) or (i > 0 and word[0].isupper()):
            found.append(word)
    return found


def copied(word: str, output: str) -> bool:
    """Whether `word` occurs in `output` as a whole word, ignoring case."""
    return re.search(rf"(?<![^\W_]){re.escape(word.lower())}(?![^\W_])", output.lower()) is not None
