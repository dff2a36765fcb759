"""Data: from raw Tatoeba lines to length-bucketed padded batches.

    text --parse_pairs--> (english, other) pairs --tokenize--> token lists
         --split_by_source--> train / valid / test --Vocab--> ids --collate--> padded batches

Special token ids are fixed in every vocabulary of the course: `<pad>`=0, `<unk>`=1,
`<bos>`=2, `<eos>`=3, so a padding mask is simply `ids != 0`.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from s2s.checks import check_int, check_real
from s2s.download import DataError, Release, fetch, read_text

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")

Tokens = list[str]
Pair = tuple[Tokens, Tokens]  # (source tokens, target tokens), without <bos>/<eos>

# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass
class ParseReport:
    """What `parse_pairs` read: every line is a pair, blank, or malformed (with its reason)."""

    lines: int = 0
    pairs: int = 0
    three_column: int = 0
    blank: list[int] = field(default_factory=list)  # 1-based line numbers
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def __str__(self) -> str:
        text = (f"{self.lines:,} lines: {self.pairs:,} pairs "
                f"({self.three_column:,} with an attribution column), "
                f"{len(self.blank):,} blank, {len(self.malformed):,} malformed")
        if self.malformed:
            text += "; first malformed: " + "; ".join(
                f"line {n}: {why}" for n, why in self.malformed[:3])
        return text


# manythings' third column: "CC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM) & ..."
ATTRIBUTION = re.compile(r"CC-BY [^\t]*Attribution: ")


def split_lines(text: str) -> list[str]:
    """Lines of a corpus file: split on "\n" (a "\r" before it is removed) and nothing else.

    Unlike `str.splitlines`, U+2028, U+2029, "\x85", "\x1c"-"\x1e", form feed and vertical
    tab do not end a line: in a sentence they are characters of the sentence. A final
    newline does not start another line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def parse_pairs(text: str) -> tuple[list[tuple[str, str]], ParseReport]:
    """Parse manythings' `English<TAB>Other[<TAB>attribution]` lines.

    Lines end at "\n" or "\r\n" only (see `split_lines`); a byte-order mark at the start of
    any line is removed. Blank lines and malformed lines are not pairs: they are counted in
    the report. Malformed: one column; more than three; a third column that is not a
    manythings attribution (`CC-BY ... Attribution: ...`: a tab inside a sentence makes a
    line look like three columns, and the pair it gives would be wrong); an empty sentence."""
    if not isinstance(text, str):
        raise TypeError(f"parse_pairs takes the file's text as a str, got "
                        f"{type(text).__name__}: decode it first (s2s.download.read_text)")
    report = ParseReport()
    pairs = []
    for number, line in enumerate(split_lines(text), start=1):
        report.lines += 1
        line = line.lstrip("\ufeff")
        if not line.strip():
            report.blank.append(number)
            continue
        columns = line.split("\t")
        if len(columns) not in (2, 3):
            report.malformed.append((number, f"{len(columns)} tab-separated columns, not 2 or 3"))
            continue
        if len(columns) == 3 and not ATTRIBUTION.match(columns[2].strip()):
            report.malformed.append((number, "3 columns but the third is not an attribution "
                                             "(a tab inside a sentence?)"))
            continue
        src, tgt = columns[0].strip(), columns[1].strip()
        if not src or not tgt:
            report.malformed.append((number, "an empty sentence"))
            continue
        report.three_column += len(columns) == 3
        pairs.append((src, tgt))
    report.pairs = len(pairs)
    return pairs, report


# ---------------------------------------------------------------------------------------------
# Tokenisation

_SPACE_BEFORE_PUNCT = re.compile(r"(?<=[^ ])([,.!?])")
_SPACE_THEN_PUNCT = re.compile(r" ([,.!?])")
# Tabs and the characters that break a line somewhere (str.splitlines' separators): inside a
# sentence they are spaces, so no token holds a newline. Other spaces (thin, ideographic)
# are kept as d2l keeps them; the real corpora hold none of these.
_BREAKS = re.compile("[\t\n\x0b\x0c\r\x1c\x1d\x1e\x85\u2028\u2029]")


def _spaces(sentence: str) -> str:
    """Non-breaking spaces, tabs and line breaks become plain spaces."""
    if not isinstance(sentence, str):
        raise TypeError(f"a sentence must be a str, got {type(sentence).__name__} "
                        f"({sentence!r:.60}): tokenizers take one sentence of text")
    return _BREAKS.sub(" ", sentence.replace("\u202f", " ").replace("\xa0", " "))


def normalize(sentence: str) -> str:
    """d2l's normalisation: non-breaking spaces become spaces, lower-case, and a space before
    each of `, . ! ?` that does not already follow one (d2l's `MTFraEng._preprocess`).
    Tabs and line breaks become spaces too (a token never holds a newline)."""
    return _SPACE_BEFORE_PUNCT.sub(r" \1", _spaces(sentence).lower())


def tokenize_words(sentence: str) -> Tokens:
    """Word tokens, exactly as d2l 1.0.3 makes them (without its appended `<eos>`)."""
    return [t for t in normalize(sentence).split(" ") if t]


def tokenize_chars(sentence: str) -> Tokens:
    """Character tokens (the Keras character-level seed): every character, spaces included,
    case kept; non-breaking spaces, tabs and line breaks become plain spaces."""
    return list(_spaces(sentence))


def tokenize_zh(sentence: str) -> Tokens:
    """Chinese as characters: every character except whitespace."""
    return [c for c in _spaces(sentence) if not c.isspace()]


TOKENIZERS: dict[str, Callable[[str], Tokens]] = {
    "word": tokenize_words, "char": tokenize_chars, "zh": tokenize_zh,
}


def detokenize(tokens: Sequence[str], kind: str = "word") -> str:
    """Tokens back to text. For words: join with spaces and undo the space `normalize` put
    before `, . ! ?` (so BLEU sees ordinary text). Case is not restored."""
    _check_tokens("detokenize", tokens)
    if kind == "word":
        return _SPACE_THEN_PUNCT.sub(r"\1", " ".join(tokens))
    if kind in ("char", "zh"):
        return "".join(tokens)
    raise ValueError(f"unknown tokenizer {kind!r}: use one of {', '.join(TOKENIZERS)}")


# ---------------------------------------------------------------------------------------------
# Vocabulary


def _check_tokens(where: str, tokens: object) -> None:
    """`tokens` must be a sequence of str (a token list), not one str."""
    if isinstance(tokens, str):
        raise TypeError(f"{where} takes a list of tokens, not a str ({tokens!r:.60}): "
                        "tokenize the sentence first, e.g. tokenize_words(sentence)")
    if not isinstance(tokens, Sequence):
        raise TypeError(f"{where} takes a list of tokens, not a {type(tokens).__name__}")
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"{where}: token {i} is a {type(token).__name__} ({token!r:.40}), "
                            "not a str: a token list holds strings")


class Vocab:
    """Token <-> id. Specials first at fixed ids, then tokens by frequency (ties: alphabetical).

    Tokens seen fewer than `min_freq` times map to `<unk>`. So does a token that merely
    spells a special (`<eos>` typed in a sentence): only the code adds the special ids."""

    def __init__(self, tokens: Sequence[str], min_freq: int = 1) -> None:
        _check_tokens("Vocab", tokens)
        check_int("min_freq", min_freq, low=1)
        clash = [t for t in tokens if t in SPECIALS]
        if clash:
            raise ValueError(f"special tokens {clash} must not be in the token list")
        self.itos: list[str] = [*SPECIALS, *tokens]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            twice = [t for t, n in Counter(tokens).items() if n > 1]
            raise ValueError(f"tokens {twice[:5]} appear more than once in the token list "
                             f"({len(self.itos) - len(self.stoi)} duplicates): each token "
                             "needs exactly one id; remove the repeats (Vocab.build counts "
                             "tokens for you)")
        self._ids = {t: i for t, i in self.stoi.items() if i >= len(SPECIALS)}
        self.min_freq = min_freq

    @classmethod
    def build(cls, sentences: Sequence[Tokens], min_freq: int = 2) -> Vocab:
        """A vocabulary of the tokens of `sentences` (token lists) seen >= min_freq times."""
        check_int("min_freq", min_freq, low=1, hint="1 keeps every token seen")
        if isinstance(sentences, str):
            raise TypeError(f"Vocab.build takes a list of token lists, not a str "
                            f"({sentences!r:.40}): tokenize the sentences first")
        sentences = sentences if isinstance(sentences, Sequence) else list(sentences)
        if any(isinstance(sentence, str) for sentence in sentences):
            i, sentence = next((i, s) for i, s in enumerate(sentences) if isinstance(s, str))
            raise TypeError(f"Vocab.build: sentence {i} is a str ({sentence!r:.40}), not a "
                            "token list: tokenize the sentences first")
        counts = Counter(t for s in sentences for t in s if t not in SPECIALS)
        kept = [t for t, n in counts.items() if n >= min_freq]
        kept.sort(key=lambda t: (-counts[t], t))
        return cls(kept, min_freq)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token list -> ids; unknown tokens (and text that spells a special) -> `<unk>`."""
        _check_tokens("Vocab.encode", tokens)
        return [self._ids.get(t, UNK) for t in tokens]

    def decode(self, ids: Sequence[int] | Tensor) -> Tokens:
        """Ids to tokens, stopping at the first `<eos>` and skipping `<pad>` and `<bos>`."""
        if isinstance(ids, Tensor):
            if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
                raise TypeError(f"Vocab.decode takes integer ids, got a {ids.dtype} tensor")
            if ids.dim() != 1:
                raise ValueError(f"Vocab.decode takes one sentence of ids (a 1-D tensor), got "
                                 f"shape {tuple(ids.shape)}: decode each row")
            ids = ids.tolist()
        elif isinstance(ids, str) or not isinstance(ids, Sequence):
            raise TypeError(f"Vocab.decode takes a list of integer ids, not a "
                            f"{type(ids).__name__}")
        out = []
        for position, i in enumerate(ids):
            if not isinstance(i, Integral) or isinstance(i, bool):
                raise TypeError(f"Vocab.decode: id {i!r} at position {position} is a "
                                f"{type(i).__name__}, not an integer")
            if not 0 <= i < len(self.itos):
                raise ValueError(f"Vocab.decode: id {i} at position {position} is outside this "
                                 f"vocabulary (ids 0..{len(self.itos) - 1}): were the ids made "
                                 "with another vocabulary?")
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.itos[i])
        return out

    def to_json(self) -> str:
        return json.dumps({"specials": list(SPECIALS), "min_freq": self.min_freq,
                           "tokens": self.itos[len(SPECIALS):]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as err:
            raise ValueError(f"not a vocabulary's JSON ({err}): pass the text Vocab.to_json "
                             "wrote, or use Vocab.load(path)") from err
        if not isinstance(data, dict) or "tokens" not in data:
            raise ValueError("not a vocabulary's JSON: expected an object with 'specials', "
                             f"'min_freq' and 'tokens', got {str(data)[:60]!r}")
        if data.get("specials") != list(SPECIALS):
            raise ValueError(f"vocabulary specials {data.get('specials')} differ from the "
                             f"course's fixed {list(SPECIALS)}")
        return cls(data["tokens"], data.get("min_freq", 1))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens, min_freq={self.min_freq})"


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
    _check_fractions(valid_frac, test_frac)
    check_int("seed", seed)
    check_int("max_pairs", max_pairs, low=1, none_ok=True, hint="None keeps every pair")
    groups = list(_source_groups(pairs).values())
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
    flat = lambda gs: [p for g in gs for p in g]  # noqa: E731
    return Splits(train=flat(groups[n_test + n_valid:]),
                  valid=flat(groups[n_test:n_test + n_valid]), test=flat(groups[:n_test]))


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
    """A corpus ready for training: splits of tokenised pairs and the training vocabularies."""

    release: Release
    report: ParseReport
    splits: Splits
    src_vocab: Vocab
    tgt_vocab: Vocab
    tokenizers: tuple[str, str]
    params: dict = field(default_factory=dict)  # the arguments that built it (cache keys)

    def dataset(self, split: str) -> PairDataset:
        return PairDataset(getattr(self.splits, split), self.src_vocab, self.tgt_vocab)

    def loader(self, split: str, batch_size: int, *, bucket: bool = True,
               shuffle: bool | None = None, seed: int = 0) -> DataLoader:
        """Padded batches of `split` ("train", "valid", "test"); only train shuffles by default."""
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
        return make_loader(self.dataset(split), batch_size, bucket=bucket, shuffle=shuffle,
                           seed=seed)

    def references(self, split: str = "test") -> list[tuple[Tokens, list[Tokens]]]:
        """Distinct sources of `split` with all their references (for multi-reference BLEU)."""
        return group_references(getattr(self.splits, split))


def _tokenizer_names(tokenizers: object, dataset: str) -> tuple[str, str]:
    if tokenizers is None:
        return DEFAULT_TOKENIZERS.get(dataset, ("word", "word"))
    if (isinstance(tokenizers, str) or not isinstance(tokenizers, Sequence)
            or len(tokenizers) != 2 or any(k not in TOKENIZERS for k in tokenizers)):
        raise ValueError(f"tokenizers must be a pair (source, target) of names among "
                         f"{', '.join(map(repr, TOKENIZERS))}, got {tokenizers!r}, e.g. "
                         "('word', 'zh')")
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


def load_translation(dataset: str = "fra-eng", *, max_len: int | None = None,
                     max_pairs: int | None = None, min_freq: int = 2, valid_frac: float = 0.05,
                     test_frac: float = 0.05, seed: int = 0,
                     tokenizers: tuple[str, str] | None = None,
                     verbose: bool = True) -> TranslationData:
    """Fetch, parse, tokenise, filter by length, split by source, and build vocabularies.

    max_len: keep pairs whose both sides have at most this many tokens (None: all).
    max_pairs: a random slice of about this many pairs (whole source groups; None: all).
    Vocabularies are built from the training split only. Settings that leave a split (or a
    vocabulary) empty are refused with an error naming them."""
    check_int("max_len", max_len, low=1, none_ok=True,
              hint="the most tokens per side a pair may have; None keeps every length")
    check_int("max_pairs", max_pairs, low=1, none_ok=True, hint="None keeps every pair")
    check_int("min_freq", min_freq, low=1, hint="1 keeps every token seen in training")
    _check_fractions(valid_frac, test_frac)
    check_int("seed", seed)
    src_kind, tgt_kind = _tokenizer_names(tokenizers, dataset)
    path, release = fetch(dataset)
    text = read_text(path, release)
    raw_pairs, report = parse_pairs(text)
    tok_src, tok_tgt = TOKENIZERS[src_kind], TOKENIZERS[tgt_kind]
    pairs = [(tok_src(s), tok_tgt(t)) for s, t in raw_pairs]
    n_all = len(pairs)
    if not pairs:
        raise DataError(f"{path} holds no sentence pair ({report}): it is not a corpus of "
                         "tab-separated pairs")
    if max_len is not None:
        every = pairs
        pairs = [p for p in pairs if len(p[0]) <= max_len and len(p[1]) <= max_len]
        if not pairs:
            shortest = min(max(len(s), len(t)) for s, t in every)
            raise ValueError(f"max_len={max_len} keeps none of the {n_all:,} pairs (the "
                             f"shortest has {shortest} tokens on its longer side): raise "
                             f"max_len to at least {shortest}, or pass None for every length")
    splits = split_by_source(pairs, valid_frac, test_frac, seed=seed, max_pairs=max_pairs)
    _refuse_empty_splits(splits, max_len=max_len, max_pairs=max_pairs, valid_frac=valid_frac,
                         test_frac=test_frac)
    src_vocab = Vocab.build([s for s, _ in splits.train], min_freq)
    tgt_vocab = Vocab.build([t for _, t in splits.train], min_freq)
    for side, vocab in (("source", src_vocab), ("target", tgt_vocab)):
        if len(vocab) == len(SPECIALS):
            raise ValueError(f"min_freq={min_freq} leaves the {side} vocabulary with no token "
                             f"(no token occurs {min_freq} times in the "
                             f"{len(splits.train):,} training pairs): every word would be "
                             "<unk>; lower min_freq")
    if verbose:
        print(f"{release.name} ({path.name}): {report}")
        if max_len is not None:
            print(f"kept {len(pairs):,} of {n_all:,} pairs with <= {max_len} tokens per side")
        print(f"split by source sentence: train {len(splits.train):,}, valid "
              f"{len(splits.valid):,}, test {len(splits.test):,} pairs; vocab "
              f"{len(src_vocab):,} source / {len(tgt_vocab):,} target tokens "
              f"(min_freq={min_freq})")
        print("Sentences: Tatoeba (tatoeba.org) via manythings.org/anki, CC-BY 2.0 France.")
    params = {"dataset": dataset, "release": release.name, "max_len": max_len,
              "max_pairs": max_pairs, "min_freq": min_freq, "valid_frac": valid_frac,
              "test_frac": test_frac, "seed": seed, "tokenizers": [src_kind, tgt_kind]}
    return TranslationData(release, report, splits, src_vocab, tgt_vocab, (src_kind, tgt_kind),
                           params)
