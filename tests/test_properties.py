"""Properties checked on generated input (hypothesis): the text -> tokens -> ids -> tokens ->
text round trip, and `parse_pairs` on generated files — tabs inside sentences, BOMs on any
line, \\r\\n endings, unusual separators (U+2028, \\x85, form feed), CJK and emoji. Never a wrong
pair, never a crash.

The runs are derandomized (the same examples every run, so CI never flakes) and write no
example database into the checkout."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from s2s.text import TOKENIZERS, detokenize, parse_pairs
from s2s.vocab import SPECIALS, Vocab

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)

# Characters a corpus line may hold that have tripped parsers: line separators that are not
# "\n", spaces of several kinds, a BOM, CJK, emoji (outside the BMP), punctuation d2l spaces.
TRICKY = ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\r", "\ufeff", "\u202f", "\xa0",
          "\u2009", "\u3000", " ", "你", "好", "。", "😀", "🇫🇷", "é", "ß", "İ", "Σ", ".", ",",
          "!", "?", "'", "<eos>", "<unk>"]


def text(exclude: str = "") -> st.SearchStrategy[str]:
    chars = st.characters(exclude_characters=exclude + "\n\t")
    tricky = st.sampled_from([t for t in TRICKY if not set(t) & set(exclude)])
    return st.lists(st.one_of(chars, tricky), max_size=12).map("".join)


# ---------------------------------------------------------------------------------------------
# tokenise -> encode -> decode -> detokenise


@PROPERTY
@given(sentence=st.one_of(text(), text().map(lambda s: s.replace(" ", "\n"))),
       kind=st.sampled_from(sorted(TOKENIZERS)))
def test_tokens_ids_tokens_text_round_trip(sentence, kind):
    tokenize = TOKENIZERS[kind]
    tokens = tokenize(sentence)
    assert all(t and not set(t) & set("\n\r\t\u2028\u2029\x85\x0c\x0b") for t in tokens)
    vocab = Vocab.build([tokens], min_freq=1)
    back = vocab.decode(vocab.encode(tokens))
    # every token comes back, except text that spells a special token: that is unknown
    assert back == [t if t not in SPECIALS else "<unk>" for t in tokens]
    if not set(tokens) & set(SPECIALS):
        # the text detokenise writes tokenises back to the same tokens
        assert tokenize(detokenize(back, kind)) == tokens


# ---------------------------------------------------------------------------------------------
# parse_pairs


ATTRIBUTION = st.builds("CC-BY 2.0 (France) Attribution: tatoeba.org #{} ({}) & #{} ({})".format,
                        st.integers(1, 10**7), st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True),
                        st.integers(1, 10**7), st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True))


@st.composite
def record(draw) -> tuple[str, str, tuple[str, str] | None]:
    """One line (without its ending) and what parsing it must give:
    ("pair", (src, tgt)), ("blank", None) or ("malformed", None)."""
    bom = draw(st.sampled_from(["", "", "\ufeff"]))
    shape = draw(st.sampled_from(["pair", "pair", "pair", "tab inside", "blank"]))
    if shape == "blank":
        spaces = draw(st.lists(st.sampled_from([" ", "\u3000", "\x0c", "\u2028", "\x85", "\r"]),
                               max_size=4))
        return bom + "".join(spaces), "blank", None
    src, tgt = draw(text()), draw(text())
    third = draw(st.one_of(st.none(), ATTRIBUTION))
    if shape == "tab inside":  # one sentence holds a tab: the line must not become a pair
        where = draw(st.sampled_from(["src", "tgt"]))
        cut = draw(st.integers(0, len(src if where == "src" else tgt)))
        if where == "src":
            src = src[:cut] + "\t" + src[cut:]
        else:
            tgt = tgt[:cut] + "\t" + tgt[cut:]
    line = bom + "\t".join([src, tgt] + ([third] if third else []))
    columns = line.lstrip("\ufeff").split("\t")
    if not line.lstrip("\ufeff").strip():
        return line, "blank", None
    if shape == "tab inside":
        return line, "malformed", None
    want = (columns[0].strip(), columns[1].strip())
    return line, ("pair" if all(want) else "malformed"), want


@PROPERTY
@given(records=st.lists(record(), max_size=8),
       endings=st.lists(st.sampled_from(["\n", "\r\n"]), min_size=8, max_size=8),
       final_newline=st.booleans())
def test_parse_pairs_never_makes_a_wrong_pair(records, endings, final_newline):
    lines = [line for line, _, _ in records]
    content = "".join(line + ending for line, ending in zip(lines, endings, strict=False))
    if not final_newline and content:
        content = content.removesuffix(endings[len(lines) - 1])
    pairs, report = parse_pairs(content)
    assert pairs == [want for _, kind, want in records if kind == "pair"]
    assert report.lines == len(records) or (not final_newline and lines and lines[-1] == ""
                                            and report.lines == len(records) - 1)
    numbered = list(enumerate(records, start=1))
    assert [n for n, _ in report.malformed] == [n for n, (_, k, _) in numbered if k == "malformed"]
    assert report.blank == [n for n, (_, k, _) in numbered if k == "blank"
                            and n <= report.lines]
