"""The inference models of chapter 6: a trained model's encoder part and decoder step, and
Keras's decode_sequence loop on them, which must give exactly the library's greedy output."""

from __future__ import annotations

import pytest
import torch

from s2s.decoding import greedy
from s2s.inference import InferenceModels, decode_sequence, distribution, inference_models
from s2s.models import ModelConfig, RNNState, build_model
from s2s.train import TrainConfig, fit
from s2s.vocab import BOS, EOS, PAD
from test_decoding import ScriptedDecoder, ScriptedEncoder
from tiny import tiny_data, trained_tiny


def trained_lstm(num_layers: int, steps: int = 300):
    """A tiny LSTM encoder-decoder of `num_layers` layers trained on the reversal task."""
    data = tiny_data(n_train=512)
    torch.manual_seed(num_layers)
    config = ModelConfig("rnn", len(data.src_vocab), len(data.tgt_vocab), embed_size=16,
                         hidden_size=48, num_layers=num_layers, dropout=0.1, cell="lstm",
                         max_len=5)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    fit(model, data, TrainConfig(max_steps=steps, lr=1e-2, batch_size=32, eval_every=100,
                                 precision="fp32"), progress=False)
    return data, model


@pytest.fixture(scope="module", params=["lstm-1", "lstm-2", "gru-1"])
def trained(request):
    if request.param == "gru-1":
        return trained_tiny()
    return trained_lstm(int(request.param[-1]))


def batches(data, size: int = 16):
    for split in ("valid", "test"):
        for src, src_len, _, _ in data.loader(split, size):
            yield src, src_len


@pytest.mark.parametrize("max_len", [1, 3, 12])
def test_decode_sequence_is_exactly_greedy_on_a_trained_model(trained, max_len):
    data, model = trained
    parts = inference_models(model)
    for src, src_len in batches(data):
        expected = greedy(model, src, src_len, max_len)
        assert decode_sequence(parts, src, src_len, max_len) == expected
        assert all(len(out) <= max_len for out in expected)


def test_a_trained_model_is_decoded_well_enough_to_mean_something(trained):
    """The equality above is not between two empty outputs: most outputs are the reversal."""
    data, model = trained
    src, src_len = next(batches(data))
    outputs = decode_sequence(inference_models(model), src, src_len, 12)
    right = [[t.lower() for t in model.tgt_vocab.decode(out)]
             == list(reversed(model.src_vocab.decode(s))) for out, s in zip(outputs, src,
                                                                           strict=True)]
    assert sum(right) >= len(right) / 2, f"{sum(right)} of {len(right)} reversed"


def test_the_parts_are_the_models_own_encode_and_step(trained):
    data, model = trained
    model.train()
    parts = inference_models(model)
    assert isinstance(parts, InferenceModels)
    assert not model.training, "inference_models switches dropout off"
    assert parts.encoder == model.encode and parts.step == model.decoder.step
    src, src_len = next(batches(data))
    state = parts.encoder(src, src_len)
    token = torch.full((src.shape[0],), BOS)
    logits, _ = parts.step(token, state)
    expected, _ = model.decoder.step(token, model.encode(src, src_len))
    assert torch.equal(logits, expected)


def test_per_layer_lstm_states_go_from_the_encoder_to_the_decoder():
    data, model = trained_lstm(2, steps=20)
    src, src_len = next(batches(data))
    state = inference_models(model).encoder(src, src_len)
    assert isinstance(state, RNNState)
    h, c = state.hidden
    assert h.shape == c.shape == (2, src.shape[0], 48)  # (layers, B, H)
    _, (enc_h, enc_c) = model.encoder(src, src_len)
    assert torch.equal(h, enc_h) and torch.equal(c, enc_c)
    assert torch.equal(state.context, enc_h[-1])  # the top layer's h is the context


def test_distribution_is_a_distribution_without_pad_and_bos():
    logits = torch.randn(4, 9)
    probs = distribution(logits)
    assert probs.shape == (4, 9)
    assert torch.allclose(probs.sum(-1), torch.ones(4))
    assert (probs[:, [PAD, BOS]] == 0).all()
    assert torch.equal(probs.argmax(-1), logits.index_fill(-1, torch.tensor([PAD, BOS]),
                                                           float("-inf")).argmax(-1))


def test_decode_sequence_stops_each_sentence_at_eos_like_greedy():
    from s2s.models import EncoderDecoder

    model = EncoderDecoder(ScriptedEncoder(), ScriptedDecoder(stop=[2, 0, 4]))
    src, src_len = torch.ones(3, 2, dtype=torch.long), torch.tensor([2, 2, 2])
    out = decode_sequence(inference_models(model), src, src_len, max_len=20)
    assert out == greedy(model, src, src_len, 20) == [[5, 5], [], [5, 5, 5, 5]]
    assert EOS not in sum(out, [])
    assert decode_sequence(inference_models(model), src, src_len, max_len=3) == [
        [5, 5], [], [5, 5, 5]]


@pytest.mark.parametrize(("max_len", "error"), [(0, ValueError), (2.5, TypeError)])
def test_bad_max_len_is_refused(max_len, error):
    from s2s.models import EncoderDecoder

    model = EncoderDecoder(ScriptedEncoder(), ScriptedDecoder(stop=[1]))
    with pytest.raises(error, match="max_len"):
        decode_sequence(inference_models(model), torch.ones(1, 1, dtype=torch.long),
                        torch.tensor([1]), max_len)
