"""Text: from a corpus file to sentence pairs, and from a sentence to tokens.

    text --parse_pairs--> (english, other) pairs;  sentence --tokenize_*--> token list
    token list --detokenize--> text

`parse_pairs` reads manythings' `English<TAB>Other[<TAB>attribution]` lines and reports what
it could not use; the tokenizers (`TOKENIZERS`: word, char, zh) and `detokenize` turn a
sentence into tokens and back. Ids and vocabularies are in `s2s.vocab`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Tokens = list[str]  # one tokenised sentence

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
    check_tokens("detokenize", tokens)
    if kind == "word":
        return _SPACE_THEN_PUNCT.sub(r"\1", " ".join(tokens))
    if kind in ("char", "zh"):
        return "".join(tokens)
    raise ValueError(f"unknown tokenizer {kind!r}: use one of {', '.join(TOKENIZERS)}")


# ---------------------------------------------------------------------------------------------
# Token lists


def check_tokens(where: str, tokens: object) -> None:
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
