"""Subwords: sentencepiece (Kudo & Richardson 2018) as the library's tokenizer "spm".

    training split's raw text --train_sentencepiece--> a model (bytes; cached on disk)
    model --SubwordVocab--> pieces <-> ids, the course's special ids kept (<pad>=0 ... <eos>=3)
    sentence --vocab.tokenize--> pieces --vocab.encode--> ids --decode--> pieces
             --vocab.detokenize--> the sentence, exactly

An "spm" side of `load_translation` trains sentencepiece on the raw text of its training
split only (never valid or test), with the unigram model (default) or BPE, `vocab_size` pieces,
one model per side or one joint model for both. Its vocabulary *is* the model: a
`SubwordVocab` holds the model's bytes, which travel in its JSON and so inside every
checkpoint: a checkpoint translates raw text on a machine without the data.

Text is given to sentencepiece exactly as the corpus has it (no lower-casing, no Unicode
normalisation: its "identity" rule, extra spaces kept), so `detokenize(tokenize(s)) == s` for
every sentence without the character "▁" (U+2581, sentencepiece's own mark for a space).
Byte fallback: a character the model lacks becomes its UTF-8 bytes as pieces (<0xE2> ...), so
no input is ever unknown (`s2s.chars.unknown_rate` is 0).

`tokenize_as` / `detokenize_as` are the one way the library turns text into tokens and back
for any tokenizer name: the word-level ones (`s2s.text.TOKENIZERS`) need no model, "spm" needs
the vocabulary that holds it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from s2s.arguments import check_bool, check_int, check_real
from s2s.text import TOKENIZERS, Tokens, check_tokens, detokenize
from s2s.vocab import SPECIALS, Vocab

SUBWORD_KINDS = ("spm",)
TOKENIZER_KINDS = (*TOKENIZERS, *SUBWORD_KINDS)  # every tokenizer name the data accepts
MODEL_TYPES = ("unigram", "bpe")
DEFAULT_VOCAB_SIZE = 8000
BYTE_PIECES = 256  # byte fallback's pieces <0x00> .. <0xFF>
FORMAT = 1  # the training options below; raise it when they change (cache keys)


def coverage_for(bases: Sequence[str]) -> float:
    """sentencepiece's character_coverage for text of these word-level kinds: every character
    seen (1.0) for alphabetic text; 0.9995 with Chinese ("zh"), whose rarest characters then
    fall back to bytes (sentencepiece's advice for large character sets)."""
    return 0.9995 if "zh" in bases else 1.0


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class SubwordSettings:
    """How the "spm" sides are trained: pieces per model, the model type, one model or two."""

    vocab_size: int = DEFAULT_VOCAB_SIZE  # per side; the joint model's in all when joint
    model_type: str = "unigram"  # or "bpe"
    joint: bool = False  # one model for source and target (both sides "spm")


def subword_settings(kinds: Sequence[str], vocab_size: int | None, subword_model: str,
                     joint_vocab: bool) -> SubwordSettings | None:
    """The settings of the "spm" sides among `kinds` (source, target); None when neither is.
    Settings that would be ignored, or that no model can have, are refused."""
    check_int("vocab_size", vocab_size, low=1, none_ok=True,
              hint=f"the pieces of a sentencepiece model, e.g. {DEFAULT_VOCAB_SIZE}")
    check_bool("joint_vocab", joint_vocab, hint="True: one model for both sides")
    if subword_model not in MODEL_TYPES:
        raise ValueError(f"subword_model={subword_model!r} is not a sentencepiece model type: "
                         f"use 'unigram' (Kudo 2018, the default) or 'bpe' (Sennrich 2016)")
    spm_sides = [k for k in kinds if k in SUBWORD_KINDS]
    if not spm_sides:
        changed = [f"{name}={value!r}" for name, value, default in (
            ("vocab_size", vocab_size, None), ("subword_model", subword_model, "unigram"),
            ("joint_vocab", joint_vocab, False)) if value != default]
        if changed:
            raise ValueError(f"{', '.join(changed)} set(s) sentencepiece, but neither "
                             f"tokenizer is 'spm' (tokenizers={tuple(kinds)}): use "
                             "tokenizers=('spm', 'spm'), or drop the setting")
        return None
    if joint_vocab and len(spm_sides) != 2:
        raise ValueError(f"joint_vocab=True shares one sentencepiece model between the two "
                         f"sides, but tokenizers={tuple(kinds)}: use ('spm', 'spm'), or "
                         "joint_vocab=False")
    size = DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size
    smallest = len(SPECIALS) + BYTE_PIECES + 1
    if size < smallest:
        raise ValueError(f"vocab_size={size} is too small: a model holds the {len(SPECIALS)} "
                         f"special tokens and {BYTE_PIECES} byte pieces before any character; "
                         f"use at least {smallest} (a few hundred more in practice, e.g. 1000)")
    return SubwordSettings(size, subword_model, joint_vocab)


# ---------------------------------------------------------------------------------------------
# Training


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError as err:  # a dependency of the package: only a broken install lacks it
        raise RuntimeError("the 'spm' tokenizer needs the sentencepiece package: pip install "
                           "sentencepiece (it is a dependency of s2s-course)") from err
    return sentencepiece


def train_sentencepiece(texts: Sequence[str], vocab_size: int, model_type: str = "unigram",
                        what: str = "the training texts", coverage: float = 1.0) -> bytes:
    """Train a sentencepiece model on `texts` (raw sentences); returns its serialised bytes.

    The course's special ids (<pad>=0, <unk>=1, <bos>=2, <eos>=3), byte fallback, text taken
    as it is (the "identity" normalisation, extra spaces kept), one thread (deterministic);
    `coverage`: the share of the characters' occurrences kept as pieces (`coverage_for`).
    A `vocab_size` the texts cannot fill, or too small for their characters, is refused with
    the size that would work; `what` names the texts in the message."""
    check_int("vocab_size", vocab_size, low=1)
    check_real("coverage", coverage, low=0, high=1, low_open=True)
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type={model_type!r}: use one of {', '.join(MODEL_TYPES)}")
    if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
        raise TypeError(f"train_sentencepiece takes a list of sentences (str), got "
                        f"{type(texts).__name__}{'' if isinstance(texts, str) else ' holding'}"
                        " something else")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError(f"{what} hold no sentence to train sentencepiece on")
    spm = _sentencepiece()
    out = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=out, model_type=model_type,
            vocab_size=vocab_size, byte_fallback=True, character_coverage=coverage,
            pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece=SPECIALS[0],
            unk_piece=SPECIALS[1], bos_piece=SPECIALS[2], eos_piece=SPECIALS[3],
            normalization_rule_name="identity", remove_extra_whitespaces=False,
            input_sentence_size=0, num_threads=1, minloglevel=2)
    except RuntimeError as err:
        raise ValueError(_training_error(str(err), vocab_size, model_type, what,
                                         len(texts))) from err
    return out.getvalue()


def _training_error(message: str, vocab_size: int, model_type: str, what: str, n: int) -> str:
    """sentencepiece's refusal in the course's words: what was wrong and what to pass."""
    few = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", message)
    if few:
        return (f"vocab_size={vocab_size} is too small for {what} ({n:,} sentences): their "
                f"characters, the byte pieces and the specials alone take {few.group(2)} "
                f"pieces; use vocab_size >= {few.group(2)} (a few hundred more, for subwords)")
    many = re.search(r"too high \((\d+)\)\. Please set it to a value <= (\d+)", message)
    if many:
        return (f"vocab_size={vocab_size} is too large for {what} ({n:,} sentences): a "
                f"{model_type} model of them has at most {many.group(2)} pieces; use "
                f"vocab_size <= {many.group(2)}, or more training pairs (max_pairs)")
    return f"sentencepiece could not train on {what} ({message.strip()[:300]})"


def _check_model(model: bytes, where: str):
    """A processor for the model bytes, or ValueError naming `where`."""
    if not isinstance(model, bytes | bytearray) or not model:
        raise TypeError(f"{where} must be a sentencepiece model's bytes, got "
                        f"{type(model).__name__}")
    processor = _sentencepiece().SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(bytes(model))
    except (RuntimeError, OSError, TypeError) as err:
        raise ValueError(f"{where} is not a sentencepiece model ({err})") from err
    specials = tuple(processor.id_to_piece(i) for i in range(min(4, processor.get_piece_size())))
    if specials != SPECIALS:
        raise ValueError(f"{where}: its first pieces are {specials}, not the course's "
                         f"{SPECIALS}: train it with train_sentencepiece")
    return processor


# ---------------------------------------------------------------------------------------------
# The cache: a trained model under a key of corpus release, split, settings and text


def spm_cache_path(key: dict, name: str) -> Path:
    """Where the model trained for `key` is kept: the cache folder's
    subwords/<name>-<16 hex of the key>.model (`name` is for people, the key decides)."""
    from s2s.download import cache_dir

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "subwords" / f"{name}-{digest}.model"


def text_digest(texts: Sequence[str]) -> str:
    """A sha256 of the training texts: two different texts never share a cached model."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def cached_sentencepiece(texts: Sequence[str], settings: SubwordSettings, key: dict,
                         name: str, what: str, coverage: float = 1.0) -> bytes:
    """`train_sentencepiece(texts, ...)` once; later calls with the same key read its file.

    key: the corpus release and split settings (the caller's); the settings, the texts'
    digest, sentencepiece's version and FORMAT are added. A file that is not a usable model
    is trained again and replaced. Writes are atomic (a temporary file renamed), so processes
    sharing the cache never read half a model."""
    full = {**key, "settings": asdict(settings), "coverage": coverage,
            "texts": text_digest(texts),
            "sentencepiece": _sentencepiece().__version__, "format": FORMAT}
    path = spm_cache_path(full, name)
    if path.is_file():
        model = path.read_bytes()
        try:
            _check_model(model, str(path))
            return model
        except (TypeError, ValueError) as err:
            print(f"the cached sentencepiece model {path} is unusable ({err}); training it "
                  "again to replace it", flush=True)
    model = train_sentencepiece(texts, settings.vocab_size, settings.model_type, what,
                                coverage)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(model)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return model


# ---------------------------------------------------------------------------------------------
# The vocabulary that is a model


class SubwordVocab(Vocab):
    """A sentencepiece model as a vocabulary: its pieces at its ids (the specials first, at the
    course's ids), `tokenize` (text -> pieces) and `detokenize` (pieces -> text).

    model: the model's bytes (train_sentencepiece). base: the word-level tokenizer of the same
    side ("word", or "zh" for Chinese): how `load_translation` measures `max_len` and how
    sacrebleu tokenises this side (`scoring_kind`)."""

    def __init__(self, model: bytes, base: str = "word") -> None:
        if base not in TOKENIZERS:
            raise ValueError(f"SubwordVocab(base={base!r}): use one of {', '.join(TOKENIZERS)}")
        processor = _check_model(model, "SubwordVocab(model=...)")
        pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
        super().__init__(pieces[len(SPECIALS):], min_freq=1)
        self.model, self.base, self._processor = bytes(model), base, processor

    def __getstate__(self) -> dict:  # pickle/deepcopy: the bytes, not the C++ processor
        return {k: v for k, v in self.__dict__.items() if k != "_processor"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._processor = _check_model(self.model, "SubwordVocab")

    def tokenize(self, sentence: str) -> Tokens:
        """The pieces of one raw sentence ("" gives []). Never <unk>: characters the model
        lacks become byte pieces."""
        if isinstance(sentence, bytes | bytearray):
            raise TypeError("SubwordVocab.tokenize(sentence=...) takes text, not bytes: decode "
                            "them first, e.g. sentence.decode('utf-8')")
        if not isinstance(sentence, str):
            raise TypeError(f"SubwordVocab.tokenize(sentence=...) takes a str, got "
                            f"{type(sentence).__name__} ({sentence!r:.40})")
        try:
            sentence.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(f"SubwordVocab.tokenize(sentence=...): {sentence!r:.40} holds "
                             f"{sentence[err.start]!r} at {err.start}, a lone surrogate that "
                             "is no character (text decoded with errors='surrogateescape'?): "
                             "decode the text as UTF-8 first") from err
        return self._processor.encode(sentence, out_type=str)

    def detokenize(self, pieces: Sequence[str]) -> str:
        """Pieces back to text: exactly the sentence `tokenize` split (specials decode to "",
        bytes that form no character to U+FFFD)."""
        check_tokens("SubwordVocab.detokenize", pieces)
        unknown = [p for p in pieces if p not in self.stoi]
        if unknown:
            raise ValueError(f"SubwordVocab.detokenize: {unknown[:3]} are not pieces of this "
                             "model: detokenize the pieces its tokenize or decode gave")
        return self._processor.decode_pieces(list(pieces))

    def to_json(self) -> str:
        data = json.loads(super().to_json())
        data.update(base=self.base, sentencepiece=base64.b64encode(self.model).decode("ascii"))
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> SubwordVocab:
        """The vocabulary `to_json` wrote (already parsed); its token list must be the
        model's pieces (a check that the file was not edited)."""
        try:
            model = base64.b64decode(data["sentencepiece"], validate=True)
        except (ValueError, TypeError) as err:
            raise ValueError("a subword vocabulary's JSON whose sentencepiece model is not "
                             "base64: the file is damaged") from err
        vocab = cls(model, data.get("base", "word"))
        if data.get("tokens") != vocab.itos[len(SPECIALS):]:
            raise ValueError("a subword vocabulary's JSON whose tokens differ from its "
                             "sentencepiece model's pieces: the file is damaged")
        return vocab

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SubwordVocab) and self.itos == other.itos
                and self.model == other.model and self.base == other.base)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SubwordVocab({len(self)} sentencepiece pieces, base={self.base!r})"


# ---------------------------------------------------------------------------------------------
# Any tokenizer name: text <-> tokens


def _subword_vocab(kind: str, vocab: object, where: str) -> SubwordVocab:
    if not isinstance(vocab, SubwordVocab):
        raise TypeError(f"{where}: the {kind!r} tokenizer needs the vocabulary that holds its "
                        f"sentencepiece model (a SubwordVocab), got {type(vocab).__name__}: "
                        "pass the data's or the model's own vocabulary")
    return vocab


def _check_kind(kind: object, where: str) -> None:
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"{where}: unknown tokenizer {kind!r}: use one of "
                         f"{', '.join(TOKENIZER_KINDS)}")


def tokenize_as(kind: str, vocab: Vocab, sentence: str) -> Tokens:
    """`sentence`'s tokens under the tokenizer `kind` ("spm": `vocab`'s model)."""
    _check_kind(kind, "tokenize_as")
    if kind in SUBWORD_KINDS:
        return _subword_vocab(kind, vocab, "tokenize_as").tokenize(sentence)
    return TOKENIZERS[kind](sentence)


def detokenize_as(kind: str, vocab: Vocab, tokens: Sequence[str]) -> str:
    """Tokens back to text under the tokenizer `kind` (`s2s.text.detokenize` for the
    word-level kinds; "spm": `vocab`'s model, exactly)."""
    _check_kind(kind, "detokenize_as")
    if kind in SUBWORD_KINDS:
        return _subword_vocab(kind, vocab, "detokenize_as").detokenize(tokens)
    return detokenize(tokens, kind)


def tokenizer_of(kind: str, vocab: Vocab) -> Callable[[str], Tokens]:
    """`tokenize_as` with the kind and vocabulary bound: sentence -> tokens."""
    _check_kind(kind, "tokenizer_of")
    return lambda sentence: tokenize_as(kind, vocab, sentence)


def scoring_kind(kind: str, vocab: Vocab) -> str:
    """The word-level kind a side is scored as (`s2s.metrics.bleu_tokenizer`): "spm" sides
    are their vocabulary's base ("zh" for Chinese), the others themselves."""
    return vocab.base if kind in SUBWORD_KINDS and isinstance(vocab, SubwordVocab) else kind


# ---------------------------------------------------------------------------------------------
# What load_translation asks for


def subword_vocabularies(train: Sequence[tuple[str, str]], kinds: Sequence[str],
                         bases: Sequence[str], settings: SubwordSettings,
                         key: dict) -> tuple[SubwordVocab | None, SubwordVocab | None]:
    """The (source, target) subword vocabularies of the "spm" sides (None for the others),
    trained on `train`, the training split's raw (source, target) text only, or taken from
    the cache. key: the corpus and split settings (see `cached_sentencepiece`)."""
    dataset = key.get("dataset", "corpus")
    if settings.joint:
        texts = [s for s, _ in train] + [t for _, t in train]
        model = cached_sentencepiece(texts, settings, {**key, "side": "joint"},
                                     f"{dataset}-joint", "the training split (both sides)",
                                     coverage_for(bases))
        return SubwordVocab(model, bases[0]), SubwordVocab(model, bases[1])
    vocabs: list[SubwordVocab | None] = []
    for side, (name, kind, base) in enumerate(zip(("source", "target"), kinds, bases,
                                                  strict=True)):
        if kind not in SUBWORD_KINDS:
            vocabs.append(None)
            continue
        texts = [pair[side] for pair in train]
        model = cached_sentencepiece(texts, settings, {**key, "side": name},
                                     f"{dataset}-{name}", f"the training split's {name} side",
                                     coverage_for([base]))
        vocabs.append(SubwordVocab(model, base))
    return vocabs[0], vocabs[1]


def model_digest(vocab: Vocab) -> str:
    """16 hex of a subword vocabulary's model (part of the data's params, so of cache keys)."""
    return hashlib.sha256(vocab.model).hexdigest()[:16] if isinstance(vocab, SubwordVocab) else ""
