"""Greedy decoding and `translate`: stopping at <eos>, and clear handling of bad input."""

from __future__ import annotations

import pytest
import torch

from s2s import translate
from s2s.decoding import greedy
from s2s.models import Decoder, Encoder, EncoderDecoder
from s2s.vocab import BOS, EOS
from tiny import trained_tiny


class ScriptedEncoder(Encoder):
    def forward(self, src, src_len):
        return src.float()[..., None], None


class ScriptedDecoder(Decoder):
    """Row b writes token 5 until step stop[b], then <eos>, then 6 forever; counts steps."""

    def __init__(self, stop: list[int], vocab: int = 8) -> None:
        super().__init__()
        self.stop, self.vocab, self.calls = torch.tensor(stop), vocab, 0

    def init_state(self, enc_outputs, src_len):
        return torch.zeros(len(self.stop), dtype=torch.long)  # the step counter per row

    def step(self, token, state):
        self.calls += 1
        logits = torch.zeros(len(self.stop), self.vocab)
        choice = torch.where(state < self.stop, 5, torch.where(state == self.stop, EOS, 6))
        logits[torch.arange(len(self.stop)), choice] = 1.0
        return logits, state + 1


def test_greedy_stops_each_sentence_at_eos_and_the_loop_when_all_are_done():
    decoder = ScriptedDecoder(stop=[2, 0, 4])
    model = EncoderDecoder(ScriptedEncoder(), decoder)
    src = torch.ones(3, 2, dtype=torch.long)
    out = greedy(model, src, torch.tensor([2, 2, 2]), max_len=20)
    assert out == [[5, 5], [], [5, 5, 5, 5]]
    assert decoder.calls == 5  # stopped once the last sentence wrote <eos>


def test_greedy_respects_max_len():
    model = EncoderDecoder(ScriptedEncoder(), ScriptedDecoder(stop=[50]))
    assert greedy(model, torch.ones(1, 1, dtype=torch.long), torch.tensor([1]), 3) == [[5, 5, 5]]


@pytest.fixture(scope="module")
def trained():
    return trained_tiny()


def test_greedy_equals_a_hand_written_loop_on_a_trained_model(trained):
    data, model = trained
    src, src_len, _, _ = next(iter(data.loader("test", 8)))
    expected = []
    for b in range(src.shape[0]):
        state = model.encode(src[b:b + 1, :src_len[b]], src_len[b:b + 1])
        token, ids = torch.tensor([BOS]), []
        for _ in range(12):
            logits, state = model.decoder.step(token, state)
            token = logits.argmax(-1)
            if token.item() == EOS:
                break
            ids.append(token.item())
        expected.append(ids)
    assert greedy(model, src, src_len, 12) == expected


def test_translate_text_to_text(trained):
    _, model = trained
    # the tiny task reverses the words and writes them in capitals (tests/tiny.py)
    assert translate(model, "w1 w2 w3") == "W3 W2 W1"
    assert translate(model, ["w4 w5", "w6"]) == ["W5 W4", "W6"]


def test_translate_rejects_empty_and_non_string_input(trained):
    _, model = trained
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        translate(model, ["w1", "   "])
    with pytest.raises(TypeError, match="sentence 0 is a int"):
        translate(model, [3])
    with pytest.raises(TypeError, match="string or a list of strings"):
        translate(model, 3)


def test_translate_unknown_words_and_overlong_input(trained):
    _, model = trained
    assert isinstance(translate(model, "zebra w1"), str)  # 'zebra' becomes <unk>
    with pytest.warns(UserWarning, match="more than the 5 the model was trained on"):
        out = translate(model, " ".join(["w1"] * 9))
    assert isinstance(out, str)


def test_greedy_declares_what_it_returns():
    import typing

    returns = [typing.get_type_hints(f)["return"] for f in typing.get_overloads(greedy)]
    assert returns == [list[list[int]], tuple[list[list[int]], list[torch.Tensor]]]
