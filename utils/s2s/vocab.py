"""Vocabularies: token <-> id, with the course's fixed special ids.

Special token ids are the same in every vocabulary of the course: `<pad>`=0, `<unk>`=1,
`<bos>`=2, `<eos>`=3, so a padding mask is simply `ids != 0`. A subword vocabulary
(`s2s.subwords.SubwordVocab`) is a sentencepiece model's pieces; `Vocab.from_json` returns one
for the JSON it wrote.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import torch
from torch import Tensor

from s2s.arguments import check_int
from s2s.text import Tokens, check_tokens

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")


class Vocab:
    """Token <-> id. Specials first at fixed ids, then tokens by frequency (ties: alphabetical).

    Tokens seen fewer than `min_freq` times map to `<unk>`. So does a token that merely
    spells a special (`<eos>` typed in a sentence): only the code adds the special ids."""

    def __init__(self, tokens: Sequence[str], min_freq: int = 1) -> None:
        check_tokens("Vocab", tokens)
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
        check_tokens("Vocab.encode", tokens)
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
        if "sentencepiece" in data:  # a subword vocabulary: it holds its model
            from s2s.subwords import SubwordVocab

            return SubwordVocab.from_dict(data)
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
