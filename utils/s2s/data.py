"""Data: from raw Tatoeba lines to length-bucketed padded batches.

    text --parse_pairs--> (english, other) pairs --tokenize--> token lists
         --split_by_source--> train / valid / test --Vocab--> ids --collate--> padded batches

Parsing and tokenisation are in `s2s.text`, vocabularies and the special ids in `s2s.vocab`;
this module holds the splits, datasets, batches and `load_translation`, which runs the whole
pipeline. Subword sides ("spm": sentencepiece trained on the training split) come from
`s2s.subwords`. The names of `s2s.text` and `s2s.vocab` can be imported from here too (the chapters
do: `from s2s.data import Vocab, tokenize_words`).

Special token ids are fixed in every vocabulary of the course: `<pad>`=0, `<unk>`=1,
`<bos>`=2, `<eos>`=3, so a padding mask is simply `ids != 0`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from s2s.arguments import check_int, check_real
from s2s.download import DataError, Release, fetch, read_text
from s2s.subwords import (
    SUBWORD_KINDS,
    TOKENIZER_KINDS,
    SubwordSettings,
    model_digest,
    subword_settings,
    subword_vocabularies,
)
from s2s.text import (
    TOKENIZERS,
    ParseReport,
    Tokens,
    parse_pairs,
)
from s2s.vocab import BOS, EOS, PAD, SPECIALS, Vocab

__all__ = [
    "DEFAULT_TOKENIZERS", "BucketBatchSampler", "Pair", "PairDataset", "Splits",
    "TranslationData", "collate", "group_references", "leaked_fraction", "load_translation",
    "make_loader", "naive_split", "padding_efficiency", "source_batch", "split_by_source",
    "split_indices",
]

Pair = tuple[Tokens, Tokens]  # (source tokens, target tokens), without <bos>/<eos>

# ---------------------------------------------------------------------------------------------
# Splits


@dataclass
class Splits:
    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]


def _source_groups(pairs: Sequence[Pair]) -> dict[tuple[str, ...], list[Pair]]:
    groups: dict[tuple[str, ...], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(tuple(pair[0]), []).append(pair)
    return groups


def split_by_source(pairs: Sequence[Pair], valid_frac: float = 0.05, test_frac: float = 0.05,
                    seed: int = 0, max_pairs: int | None = None) -> Splits:
    """A seeded train/valid/test split in which all pairs of one source sentence stay together.

    Source sentences are shuffled with `seed`; the first `test_frac` of them (and all their
    translations) form the test split, the next `valid_frac` the validation split. With
    `max_pairs`, only whole source groups up to that many pairs are kept (a corpus slice that
    is a random sample, and the same prefix for every size)."""
    pairs = list(pairs)
    parts = split_indices([tuple(src) for src, _ in pairs], valid_frac, test_frac, seed,
                          max_pairs)
    return Splits(*[[pairs[i] for i in part] for part in parts])


def split_indices(sources: Sequence[tuple[str, ...]], valid_frac: float = 0.05,
                  test_frac: float = 0.05, seed: int = 0, max_pairs: int | None = None
                  ) -> tuple[list[int], list[int], list[int]]:
    """`split_by_source` as positions: (train, valid, test) lists of indices into `sources`,
    one tokenised source per pair (pairs with equal sources are one group)."""
    _check_fractions(valid_frac, test_frac)
    check_int("seed", seed)
    check_int("max_pairs", max_pairs, low=1, none_ok=True, hint="None keeps every pair")
    by_source: dict[tuple[str, ...], list[int]] = {}
    for i, source in enumerate(sources):
        by_source.setdefault(source, []).append(i)
    groups = list(by_source.values())
    random.Random(seed).shuffle(groups)
    if max_pairs is not None:
        kept, total = [], 0
        for group in groups:
            if total >= max_pairs:
                break
            kept.append(group)
            total += len(group)
        groups = kept
    n_test, n_valid = round(len(groups) * test_frac), round(len(groups) * valid_frac)
    flat = lambda gs: [i for g in gs for i in g]  # noqa: E731
    return (flat(groups[n_test + n_valid:]), flat(groups[n_test:n_test + n_valid]),
            flat(groups[:n_test]))


def _check_fractions(valid_frac: float, test_frac: float) -> None:
    check_real("valid_frac", valid_frac, low=0, high=1, high_open=True)
    check_real("test_frac", test_frac, low=0, high=1, high_open=True)
    if valid_frac + test_frac >= 1:
        raise ValueError(f"valid_frac + test_frac must be < 1 to leave pairs for training, got "
                         f"{valid_frac} + {test_frac}: the usual is 0.05 each")


def naive_split(pairs: Sequence[Pair], test_frac: float = 0.05, seed: int = 0) -> tuple[
        list[Pair], list[Pair]]:
    """The split not to make: shuffle pairs, cut. Returns (train, test)."""
    shuffled = list(pairs)
    random.Random(seed).shuffle(shuffled)
    n_test = round(len(shuffled) * test_frac)
    return shuffled[n_test:], shuffled[:n_test]


def leaked_fraction(train: Sequence[Pair], test: Sequence[Pair]) -> float:
    """The fraction of test pairs whose source sentence also appears in the training pairs."""
    seen = {tuple(src) for src, _ in train}
    return sum(tuple(src) in seen for src, _ in test) / max(len(test), 1)


def group_references(pairs: Sequence[Pair]) -> list[tuple[Tokens, list[Tokens]]]:
    """One entry per distinct source, in first-seen order, with all its target references."""
    return [(list(src), [tgt for _, tgt in group]) for src, group in _source_groups(pairs).items()]


# ---------------------------------------------------------------------------------------------
# Batches


class PairDataset(Dataset):
    """Pairs as id lists. Item i: (source ids + <eos>, target ids) — <bos>/<eos> of the target
    are added by `collate`."""

    def __init__(self, pairs: Sequence[Pair], src_vocab: Vocab, tgt_vocab: Vocab) -> None:
        self.src = [src_vocab.encode(s) + [EOS] for s, _ in pairs]
        self.tgt = [tgt_vocab.encode(t) for _, t in pairs]

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.src[i], self.tgt[i]

    def lengths(self) -> list[tuple[int, int]]:
        """(source length incl. <eos>, target length + 1) per item: the padded widths."""
        return [(len(s), len(t) + 1) for s, t in zip(self.src, self.tgt, strict=True)]


def _pad(rows: Sequence[Sequence[int]]) -> Tensor:
    """Rows of ids -> (len(rows), longest) tensor, right-padded with <pad> = 0."""
    width = max(len(r) for r in rows)
    return torch.tensor([[*r, *[PAD] * (width - len(r))] for r in rows], dtype=torch.long)


def source_batch(vocab: Vocab, sentences: Sequence[Tokens],
                 device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Tokenised source sentences -> a model's input: src (B, S) on `device`, src_len (B,).

    Each sentence becomes its ids + <eos> (unknown tokens: <unk>), right-padded with <pad>,
    as `collate` builds a batch's source. src_len stays on the CPU (as in every batch: where
    `pack_padded_sequence` wants it)."""
    if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
        raise TypeError("source_batch takes tokenised sentences (lists of tokens, e.g. "
                        "tokenize_words(text)), not strings: tokenise them first, or use "
                        "s2s.translate for raw text")
    if len(sentences) == 0:
        raise ValueError("source_batch needs at least one sentence, got none")
    rows = [vocab.encode(s) + [EOS] for s in sentences]
    src = _pad(rows)
    return (src if device is None else src.to(device)), torch.tensor([len(r) for r in rows])


def collate(items: Sequence[tuple[list[int], list[int]]]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pad a list of items into (src (B, S), src_len (B,), tgt_in (B, T), tgt_out (B, T)).

    tgt_in = <bos> y1 .. yn, tgt_out = y1 .. yn <eos>; padding is 0 everywhere."""
    src = [s for s, _ in items]
    tgt = [t for _, t in items]
    return (_pad(src), torch.tensor([len(s) for s in src]),
            _pad([[BOS, *t] for t in tgt]), _pad([[*t, EOS] for t in tgt]))


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of items of similar length, so little of each batch is padding.

    Each epoch: shuffle the items (seeded, a new order per epoch), sort them stably by
    (source length, target length), cut into batches, and shuffle the batches' order."""

    def __init__(self, lengths: Sequence[tuple[int, int]], batch_size: int, shuffle: bool = True,
                 seed: int = 0) -> None:
        check_int("batch_size", batch_size, low=1)
        self.lengths = list(lengths)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        order.sort(key=lambda i: self.lengths[i])
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        yield from batches


def make_loader(dataset: PairDataset, batch_size: int, *, bucket: bool = True,
                shuffle: bool = True, seed: int = 0) -> DataLoader:
    """A DataLoader of padded batches; `bucket=False` gives plain (shuffled) batches.

    An empty dataset is refused: its loader would train 0 steps, or measure a loss of 0.0."""
    check_int("batch_size", batch_size, low=1)
    if len(dataset) == 0:
        raise ValueError("make_loader: the dataset is empty (0 pairs), so the loader would have "
                         "no batch: check the settings that built it (max_len, max_pairs, "
                         "valid_frac, test_frac)")
    if bucket:
        sampler = BucketBatchSampler(dataset.lengths(), batch_size, shuffle=shuffle, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                      generator=generator)


def padding_efficiency(loader: DataLoader) -> dict[str, float]:
    """The fraction of source, target and all token slots that hold real tokens (not <pad>)."""
    real = {"src": 0, "tgt": 0}
    slots = {"src": 0, "tgt": 0}
    for src, _, _, tgt_out in loader:
        for key, ids in (("src", src), ("tgt", tgt_out)):
            real[key] += int((ids != PAD).sum())
            slots[key] += ids.numel()
    return {"src": real["src"] / slots["src"], "tgt": real["tgt"] / slots["tgt"],
            "all": (real["src"] + real["tgt"]) / (slots["src"] + slots["tgt"])}


# ---------------------------------------------------------------------------------------------
# Everything together

DEFAULT_TOKENIZERS = {"fra-eng": ("word", "word"), "cmn-eng": ("word", "zh")}


@dataclass
class TranslationData:
    """A corpus ready for training: splits of tokenised pairs and the training vocabularies.

    texts: the same splits as raw (source, target) text, pair for pair, as the corpus has them
    (None for data built otherwise, e.g. `s2s.chars.word_level_twin`). For an "spm" side the
    vocabulary is a `s2s.subwords.SubwordVocab`: `vocab.tokenize(text)` gives its pieces and
    `vocab.detokenize(pieces)` the text back, exactly."""

    release: Release
    report: ParseReport
    splits: Splits
    src_vocab: Vocab
    tgt_vocab: Vocab
    tokenizers: tuple[str, str]
    params: dict = field(default_factory=dict)  # the arguments that built it (cache keys)
    texts: Splits | None = None  # raw text of the same pairs

    def dataset(self, split: str, pairs: int | None = None) -> PairDataset:
        """The pairs of `split` as ids (the first `pairs` of them; None: all)."""
        check_int("dataset(pairs=...)", pairs, low=1, none_ok=True,
                  hint="the number of the split's first pairs to use; None: all of them")
        return PairDataset(getattr(self.splits, split)[:pairs], self.src_vocab, self.tgt_vocab)

    def loader(self, split: str, batch_size: int, *, bucket: bool = True,
               shuffle: bool | None = None, seed: int = 0,
               pairs: int | None = None) -> DataLoader:
        """Padded batches of `split` ("train", "valid", "test"); only train shuffles by default.
        pairs: only the split's first `pairs` pairs (a fixed subset); None: all of them."""
        shuffle = split == "train" if shuffle is None else shuffle
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
        if not getattr(self.splits, split):
            settings = ", ".join(f"{k}={v!r}" for k, v in self.params.items()
                                 if k in ("max_len", "max_pairs", "valid_frac", "test_frac"))
            raise ValueError(f"the {split} split is empty, so its loader would have no batch "
                             f"(training 0 steps, or a loss of 0.0){': ' if settings else ''}"
                             f"{settings}. Build the data with settings that leave pairs in "
                             f"every split (load_translation refuses the others)")
        return make_loader(self.dataset(split, pairs), batch_size, bucket=bucket,
                           shuffle=shuffle, seed=seed)

    def check_vocabularies(self, model: object, who: str) -> None:
        """Refuse a model whose vocabularies are not this data's: other ids would silently
        mean other words. `who` (fit, judge) is named in the error."""
        for side, name in (("src_vocab", "source"), ("tgt_vocab", "target")):
            if getattr(model, side) != getattr(self, side):
                raise ValueError(f"{who}: the model's {name} vocabulary differs from the "
                                 "data's (another corpus, max_len, max_pairs or min_freq): "
                                 "build the model from this data's vocabularies, or load the "
                                 "data it was built for")

    def model_max_len(self, limit: int | None) -> int:
        """The max_len to build a model of this data with: `limit` (the length limit the data
        was loaded with) when it counts the model's own tokens; the most tokens of any pair
        when it does not (an "spm" side: `limit` counts words, the model sees pieces; a side
        loaded with max_len_counts="words" that is not word-level) or when there is no limit."""
        bases = _base_kinds(self.params.get("dataset", ""), tuple(self.tokenizers),
                            self.params.get("max_len_counts", "tokens"))
        other_units = any(kind != base for kind, base in zip(self.tokenizers, bases,
                                                              strict=True))
        if limit is not None and not other_units:
            return limit
        return max(max(len(s), len(t)) for split in ("train", "valid", "test")
                   for s, t in getattr(self.splits, split))

    def references(self, split: str = "test") -> list[tuple[Tokens, list[Tokens]]]:
        """Distinct sources of `split` with all their references (for multi-reference BLEU)."""
        return group_references(getattr(self.splits, split))


def _tokenizer_names(tokenizers: object, dataset: str) -> tuple[str, str]:
    if tokenizers is None:
        return DEFAULT_TOKENIZERS.get(dataset, ("word", "word"))
    if (isinstance(tokenizers, str) or not isinstance(tokenizers, Sequence)
            or len(tokenizers) != 2 or any(k not in TOKENIZER_KINDS for k in tokenizers)):
        raise ValueError(f"tokenizers must be a pair (source, target) of names among "
                         f"{', '.join(map(repr, TOKENIZER_KINDS))}, got {tokenizers!r}, e.g. "
                         "('word', 'zh') or ('spm', 'spm')")
    return tokenizers[0], tokenizers[1]


def _refuse_empty_splits(splits: Splits, **settings: object) -> None:
    """An empty split (no training, validation or test pair) names the setting behind it."""
    parts = (splits.train, splits.valid, splits.test)
    if all(parts):
        return
    sources = len({tuple(src) for part in parts for src, _ in part})
    limits = " and ".join(f"{k}={settings[k]}" for k in ("max_pairs", "max_len")
                          if settings[k] is not None)
    kept = f"the {sources:,} source sentences kept" + (f" by {limits}" if limits else "")
    for split, frac in (("valid", "valid_frac"), ("test", "test_frac")):
        if not getattr(splits, split):
            value = settings[frac]
            why = (f"{frac}={value} asks for no {split} pair" if value == 0 else
                   f"{frac}={value} of {kept} rounds to none")
            raise ValueError(f"the {split} split is empty: {why}. Training needs a validation "
                             f"split and judging a test split: use {frac} > 0 (0.05 is usual)"
                             " with enough pairs (raise max_pairs or max_len)")
    if not splits.train:
        raise ValueError(f"the train split is empty: valid_frac={settings['valid_frac']} and "
                         f"test_frac={settings['test_frac']} take all of {kept}: raise "
                         "max_pairs or max_len")


MAX_LEN_COUNTS = ("tokens", "words")  # load_translation's max_len_counts


def _base_kinds(dataset: str, kinds: tuple[str, str], counts: str) -> tuple[str, str]:
    """The tokenizer of each side that measures max_len and groups the split: the side's own;
    for an "spm" side, or any side when `counts` is "words", the dataset's word-level default
    for that side ("word"; "zh" for Chinese)."""
    default = DEFAULT_TOKENIZERS.get(dataset, ("word", "word"))
    src, tgt = (default[i] if kind in SUBWORD_KINDS or counts == "words" else kind
                for i, kind in enumerate(kinds))
    return src, tgt


def _retokenize(splits: Splits, texts: Splits, kinds: tuple[str, str],
                bases: tuple[str, str]) -> Splits:
    """The splits, with each side whose tokenizer differs from its base (the kind that measured
    max_len) cut again from the pair's raw text by its own tokenizer; "spm" sides are left to
    `_vocabularies`, which cuts them into pieces."""
    redo = [kind != base and kind not in SUBWORD_KINDS for kind, base in zip(kinds, bases,
                                                                              strict=True)]
    if not any(redo):
        return splits
    tok_src, tok_tgt = (TOKENIZERS[k] if r else None for k, r in zip(kinds, redo, strict=True))
    parts = []
    for tokens, raw in zip((splits.train, splits.valid, splits.test),
                           (texts.train, texts.valid, texts.test), strict=True):
        parts.append([(tok_src(rs) if tok_src else s, tok_tgt(rt) if tok_tgt else t)
                      for (s, t), (rs, rt) in zip(tokens, raw, strict=True)])
    return Splits(*parts)


def _vocabularies(splits: Splits, texts: Splits, kinds: tuple[str, str],
                  bases: tuple[str, str], settings: SubwordSettings | None, min_freq: int,
                  key: dict) -> tuple[Vocab, Vocab, Splits]:
    """The two vocabularies (word-level: tokens seen >= min_freq times in training; "spm":
    sentencepiece trained on the training split's text) and the splits, their "spm" sides
    re-tokenised into pieces."""
    src_sub, tgt_sub = (subword_vocabularies(texts.train, kinds, bases, settings, key)
                        if settings is not None else (None, None))
    src_vocab = src_sub if src_sub is not None else Vocab.build([s for s, _ in splits.train],
                                                                min_freq)
    tgt_vocab = tgt_sub if tgt_sub is not None else Vocab.build([t for _, t in splits.train],
                                                                min_freq)
    for side, vocab in (("source", src_vocab), ("target", tgt_vocab)):
        if len(vocab) == len(SPECIALS):
            raise ValueError(f"min_freq={min_freq} leaves the {side} vocabulary with no token "
                             f"(no token occurs {min_freq} times in the "
                             f"{len(splits.train):,} training pairs): every word would be "
                             "<unk>; lower min_freq")
    if settings is not None:
        parts = []
        for tokens, raw in zip((splits.train, splits.valid, splits.test),
                               (texts.train, texts.valid, texts.test), strict=True):
            parts.append([(src_sub.tokenize(rs) if src_sub is not None else s,
                           tgt_sub.tokenize(rt) if tgt_sub is not None else t)
                          for (s, t), (rs, rt) in zip(tokens, raw, strict=True)])
        splits = Splits(*parts)
    return src_vocab, tgt_vocab, splits


def load_translation(dataset: str = "fra-eng", *, max_len: int | None = None,
                     max_pairs: int | None = None, min_freq: int = 2, valid_frac: float = 0.05,
                     test_frac: float = 0.05, seed: int = 0,
                     tokenizers: tuple[str, str] | None = None, vocab_size: int | None = None,
                     subword_model: str = "unigram", joint_vocab: bool = False,
                     max_len_counts: str = "tokens", verbose: bool = True) -> TranslationData:
    """Fetch, parse, tokenise, filter by length, split by source, and build vocabularies.

    max_len: keep pairs whose both sides have at most this many tokens (None: all).
    max_pairs: a random slice of about this many pairs (whole source groups; None: all).
    Vocabularies are built from the training split only. Settings that leave a split (or a
    vocabulary) empty are refused with an error naming them.

    Subwords: a side whose tokenizer is "spm" is cut into sentencepiece pieces by a model
    trained on the raw text of the training split only (cached; `s2s.subwords`), with
    `vocab_size` pieces (default 8000; per side, or in all with `joint_vocab=True`, one model
    for both sides) of the `subword_model` "unigram" (default) or "bpe". Its text is the
    corpus's, unchanged (case kept), and min_freq does not apply to it. Its max_len counts,
    and its split groups, the dataset's word-level tokens of that side ("word"; "zh" for
    Chinese), so an "spm" corpus holds the same pairs, in the same splits and order, as the
    word-level one. The other settings (vocab_size, ...) are refused without an "spm" side.

    max_len_counts: what max_len counts and the split groups by: "tokens" (each side's own, as
    above) or "words" (the dataset's word-level tokens of each side, whatever its tokenizer):
    then a "char" side holds the same pairs, in the same splits and order, as the word level,
    cut into characters afterwards (to compare the levels on the same sentences)."""
    if max_len_counts not in MAX_LEN_COUNTS:
        raise ValueError(f"max_len_counts must be one of {MAX_LEN_COUNTS}, got "
                         f"{max_len_counts!r}: \"words\" keeps the word level's pairs at any "
                         "tokenizer")
    check_int("max_len", max_len, low=1, none_ok=True,
              hint="the most tokens per side a pair may have; None keeps every length")
    check_int("max_pairs", max_pairs, low=1, none_ok=True, hint="None keeps every pair")
    check_int("min_freq", min_freq, low=1, hint="1 keeps every token seen in training")
    _check_fractions(valid_frac, test_frac)
    check_int("seed", seed)
    kinds = _tokenizer_names(tokenizers, dataset)
    subwords = subword_settings(kinds, vocab_size, subword_model, joint_vocab)
    bases = _base_kinds(dataset, kinds, max_len_counts)
    path, release = fetch(dataset)
    text = read_text(path, release)
    raw_pairs, report = parse_pairs(text)
    tok_src, tok_tgt = TOKENIZERS[bases[0]], TOKENIZERS[bases[1]]
    pairs = [(tok_src(s), tok_tgt(t)) for s, t in raw_pairs]
    n_all = len(pairs)
    if not pairs:
        raise DataError(f"{path} holds no sentence pair ({report}): it is not a corpus of "
                         "tab-separated pairs")
    if max_len is not None:
        keep = [i for i, (s, t) in enumerate(pairs) if len(s) <= max_len and len(t) <= max_len]
        if not keep:
            shortest = min(max(len(s), len(t)) for s, t in pairs)
            raise ValueError(f"max_len={max_len} keeps none of the {n_all:,} pairs (the "
                             f"shortest has {shortest} tokens on its longer side): raise "
                             f"max_len to at least {shortest}, or pass None for every length")
        pairs, raw_pairs = [pairs[i] for i in keep], [raw_pairs[i] for i in keep]
    parts = split_indices([tuple(s) for s, _ in pairs], valid_frac, test_frac, seed, max_pairs)
    splits = Splits(*[[pairs[i] for i in part] for part in parts])
    texts = Splits(*[[raw_pairs[i] for i in part] for part in parts])
    _refuse_empty_splits(splits, max_len=max_len, max_pairs=max_pairs, valid_frac=valid_frac,
                         test_frac=test_frac)
    splits = _retokenize(splits, texts, kinds, bases)
    params = {"dataset": dataset, "release": release.name, "max_len": max_len,
              "max_pairs": max_pairs, "min_freq": min_freq, "valid_frac": valid_frac,
              "test_frac": test_frac, "seed": seed, "tokenizers": list(kinds)}
    if max_len_counts != "tokens":  # only when set: the default leaves cached keys as they were
        params["max_len_counts"] = max_len_counts
    key = {k: params[k] for k in ("dataset", "release", "max_len", "max_pairs", "valid_frac",
                                  "test_frac", "seed")}
    src_vocab, tgt_vocab, splits = _vocabularies(splits, texts, kinds, bases, subwords,
                                                 min_freq, {**key, "bases": list(bases)})
    if subwords is not None:
        params.update(vocab_size=subwords.vocab_size, subword_model=subwords.model_type,
                      joint_vocab=subwords.joint,
                      subword_models=[model_digest(src_vocab), model_digest(tgt_vocab)])
    if verbose:
        _describe(release, path.name, report, max_len, len(pairs), n_all, splits, src_vocab,
                  tgt_vocab, min_freq, subwords)
    return TranslationData(release, report, splits, src_vocab, tgt_vocab, kinds, params, texts)


def _describe(release: Release, filename: str, report: ParseReport, max_len: int | None,
              kept: int, n_all: int, splits: Splits, src_vocab: Vocab, tgt_vocab: Vocab,
              min_freq: int, subwords: SubwordSettings | None) -> None:
    """What load_translation made, for people."""
    print(f"{release.name} ({filename}): {report}")
    if max_len is not None:
        print(f"kept {kept:,} of {n_all:,} pairs with <= {max_len} tokens per side")
    print(f"split by source sentence: train {len(splits.train):,}, valid "
          f"{len(splits.valid):,}, test {len(splits.test):,} pairs; vocab "
          f"{len(src_vocab):,} source / {len(tgt_vocab):,} target tokens "
          f"(min_freq={min_freq})")
    if subwords is not None:
        n = max(len(splits.train), 1)
        print(f"sentencepiece {subwords.model_type} "
              f"({'one joint model' if subwords.joint else 'a model per side'}, "
              f"{subwords.vocab_size:,} pieces, trained on the training split's text only): "
              f"{sum(len(s) for s, _ in splits.train) / n:.1f} source / "
              f"{sum(len(t) for _, t in splits.train) / n:.1f} target tokens per training "
              "sentence")
    print("Sentences: Tatoeba (tatoeba.org) via manythings.org/anki, CC-BY 2.0 France.")
