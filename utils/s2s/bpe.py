"""Byte-pair encoding from scratch (Sennrich, Haddow & Birch 2016), for teaching.

    word counts --learn_bpe--> merges [(a, b), ...] in the order learned
    a new word  --apply_bpe--> its subwords, the merges applied in that order

A word is a sequence of symbols: its characters, then the end-of-word marker `END` ("</w>")
as a symbol of its own, as in the paper's Algorithm 1 ("l o w </w>"). The marker is what lets
a subword say "I end a word": "st</w>" (the end of "widest") and "st" (inside "stone") are
different symbols, so the text is recovered exactly by joining a word's symbols and dropping
the marker. (sentencepiece marks the other end: "▁" starts a word; with
`treat_whitespace_as_suffix` it ends one, as here; `learn_bpe(..., end="▁")` then speaks its
language, which the tests use to compare the two.)

Learning: count every adjacent pair of symbols over the word-frequency table (a word seen n
times counts its pairs n times), merge the most frequent pair everywhere, record it, repeat.
Ties: among pairs with the same highest count, the one that comes first in Python's string
order of (left symbol, right symbol) wins — a rule of this module, not of the paper (subword-nmt
takes the last; sentencepiece and HF `tokenizers` have rules of their own), so on a corpus with
ties implementations can learn different merges from the same counts.

Applying: repeatedly find, among the word's adjacent pairs, the one learned earliest, and merge
all its occurrences (left to right); stop when no adjacent pair was learned. For merges as
`learn_bpe` returns them, this is the same as applying every merge, in learned order, to the
whole word (each merge joins symbols that exist before it is learned, and no pair is learned
twice). For an arbitrary list it need not be: with [("ab", "c"), ("a", "b")], "abc" becomes
["abc", "</w>"] here, but one pass over the list in order leaves ["ab", "c", "</w>"], since
("ab", "c") comes before the merge that makes "ab". (A pair listed twice counts at its first
index.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

from s2s.arguments import check_int

END = "</w>"  # the end-of-word marker: the last symbol of every word

Word = tuple[str, ...]  # a word as symbols, e.g. ("l", "o", "w", "</w>")
Pair = tuple[str, str]  # two adjacent symbols


def split_word(word: str, end: str = END) -> Word:
    """A word as its characters and the end-of-word marker: "low" -> ("l", "o", "w", "</w>")."""
    if not isinstance(word, str) or not word or any(c.isspace() for c in word):
        raise ValueError(f"a word is a non-empty str without spaces, got {word!r:.40}: split "
                         "sentences into words first (word_counts)")
    return (*word, end)


def word_counts(sentences: Iterable[str]) -> Counter[str]:
    """How often each whitespace-separated word occurs in `sentences`."""
    return Counter(word for sentence in sentences for word in sentence.split())


def count_pairs(words: Mapping[Word, int]) -> Counter[Pair]:
    """Every adjacent symbol pair's count over a table {word as symbols: frequency}."""
    pairs: Counter[Pair] = Counter()
    for symbols, freq in words.items():
        for pair in pairwise(symbols):
            pairs[pair] += freq
    return pairs


def best_pair(pairs: Mapping[Pair, int]) -> Pair:
    """The most frequent pair; ties: the first in string order of (left, right)."""
    if not pairs:
        raise ValueError("best_pair: no pair to choose from (every word is one symbol)")
    return min(pairs, key=lambda pair: (-pairs[pair], pair))


def merge_symbols(symbols: Word, pair: Pair) -> Word:
    """`symbols` with every occurrence of `pair` (scanned left to right) made one symbol."""
    out: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def merge_pair(words: Mapping[Word, int], pair: Pair) -> dict[Word, int]:
    """The word table with `pair` merged in every word (frequencies unchanged)."""
    return {merge_symbols(symbols, pair): freq for symbols, freq in words.items()}


def learn_bpe(counts: Mapping[str, int], num_merges: int, end: str = END) -> list[Pair]:
    """Learn up to `num_merges` merges from a table {word: frequency}; fewer when every word
    has become a single symbol. Returns the merges in the order learned."""
    check_int("num_merges", num_merges, low=0, hint="how many merges to learn, e.g. 100")
    if isinstance(counts, str) or not isinstance(counts, Mapping):
        raise TypeError(f"learn_bpe takes a table {{word: frequency}} (e.g. word_counts(...)), "
                        f"got {type(counts).__name__}")
    for word, freq in counts.items():
        check_int(f"learn_bpe: the frequency of {word!r:.30}", freq, low=1)
    words = {split_word(word, end): freq for word, freq in counts.items()}
    merges: list[Pair] = []
    for _ in range(num_merges):
        pairs = count_pairs(words)
        if not pairs:
            break
        pair = best_pair(pairs)
        words = merge_pair(words, pair)
        merges.append(pair)
    return merges


def apply_bpe(word: str, merges: Sequence[Pair], end: str = END) -> list[str]:
    """A word's subwords under learned `merges` (the last one carries the end marker):
    apply_bpe("lowest", merges) -> e.g. ["low", "est</w>"]. Characters never seen in
    training stay single symbols."""
    rank = {tuple(pair): i for i, pair in reversed(list(enumerate(merges)))}
    symbols = split_word(word, end)
    while len(symbols) > 1:
        ranked = [rank[p] for p in pairwise(symbols) if p in rank]
        if not ranked:
            break
        symbols = merge_symbols(symbols, tuple(merges[min(ranked)]))
    return list(symbols)


def unbpe(subwords: Sequence[str], end: str = END) -> list[str]:
    """Subwords back to words: join them, and cut a word after each end marker."""
    text = "".join(subwords)
    words = text.split(end)
    if words[-1]:
        raise ValueError(f"unbpe: the subwords do not end with the marker {end!r}: the last "
                         f"word {words[-1]!r:.30} is unfinished")
    return words[:-1]
