"""The interactive translator (s2s.translator, chapter 7): the n-best list and the attention
of the best hypothesis on a trained CS224n-style model; a printed result where no widget front
end can be; a widget that translates what is typed where one can."""

from __future__ import annotations

import pytest
import torch

import s2s.translator as tr
from s2s import translate
from s2s.models import ModelConfig, build_model
from s2s.train import TrainConfig, fit
from tiny import tiny_data


@pytest.fixture(scope="module")
def trained():
    data = tiny_data(n_train=512)
    torch.manual_seed(0)
    config = ModelConfig("nmt", len(data.src_vocab), len(data.tgt_vocab), embed_size=16,
                         hidden_size=32, num_layers=1, dropout=0.0, cell="lstm",
                         bidirectional=True, input_feeding=True, attention="additive",
                         max_len=5)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    fit(model, data, TrainConfig(max_steps=300, lr=1e-2, batch_size=32, eval_every=100,
                                 precision="fp32"), progress=False)
    return model


def test_nbest_list_and_attention_of_the_best(trained):
    sentence = "w1 w4 w7"
    result = tr.nbest_with_attention(trained, sentence, beam_size=4, n_best=3)
    assert len(result.nbest) == 3
    scores = [score for _, score in result.nbest]
    assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    assert result.nbest[0][0] == translate(trained, sentence, beam_size=4)
    assert result.nbest[0][0] == "w7 w4 w1".upper()  # the task: reverse, upper-case
    assert result.source == ["w1", "w4", "w7", "<eos>"]
    assert result.target == ["W7", "W4", "W1", "<eos>"]
    assert result.weights.shape == (4, 4)
    torch.testing.assert_close(result.weights.sum(-1), torch.ones(4))
    # the best hypothesis's score is its log-probability under teacher forcing
    from s2s.data import source_batch
    from s2s.vocab import BOS, EOS
    src, src_len = source_batch(trained.src_vocab, [["w1", "w4", "w7"]])
    ids = trained.tgt_vocab.encode(["W7", "W4", "W1"])
    with torch.no_grad():
        logp = trained(src, src_len, torch.tensor([[BOS, *ids]])).log_softmax(-1)
    expected = float(logp[0].gather(-1, torch.tensor([*ids, EOS])[:, None]).sum())
    assert scores[0] == pytest.approx(expected, abs=1e-4)


def test_bad_input_is_refused_with_the_argument_named(trained):
    with pytest.raises(ValueError, match="n_best=6 is more than beam_size=5"):
        tr.nbest_with_attention(trained, "w1", n_best=6)
    with pytest.raises(TypeError, match="sentence must be a str"):
        tr.nbest_with_attention(trained, ["w1"])
    with pytest.raises(ValueError, match="empty"):
        tr.nbest_with_attention(trained, "   ")


def test_without_a_widget_front_end_it_prints_the_example(trained, capsys, monkeypatch):
    monkeypatch.setattr("matplotlib.pyplot.show", lambda: None)
    assert not tr.widgets_possible()  # pytest is not a notebook kernel
    assert tr.translator(trained, example="w2 w3", beam_size=3, n_best=2) is None
    printed = capsys.readouterr().out
    assert "'w2 w3':" in printed and "1." in printed and "2." in printed
    assert "W3 W2" in printed


def test_the_widget_translates_what_is_typed(trained, monkeypatch):
    monkeypatch.setattr("matplotlib.pyplot.show", lambda: None)
    seen = []
    real = tr.nbest_with_attention
    monkeypatch.setattr(tr, "nbest_with_attention",
                        lambda model, s, **kw: seen.append(s) or real(model, s, **kw))
    box = tr.translator(trained, example="w2 w3", beam_size=3, interactive=True)
    text, output = box.children
    assert text.value == "w2 w3" and seen == ["w2 w3"]
    text.value = "w5 w6 w8"  # what typing and pressing Enter does
    assert seen == ["w2 w3", "w5 w6 w8"]
    text.value = "   "  # nothing to translate: reported in the output, no exception
    assert seen[-1] == "   "
