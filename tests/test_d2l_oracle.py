"""The oracle loads: d2l.torch imports and its Seq2SeqEncoder runs (issues 3-6 compare to it)."""

import torch

from d2l_oracle import load_d2l


def test_d2l_seq2seq_encoder_runs_on_a_batch():
    d2l = load_d2l()
    torch.manual_seed(0)
    encoder = d2l.Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    X = torch.randint(0, 10, (4, 7))  # (batch, steps)
    outputs, state = encoder(X)
    assert outputs.shape == (7, 4, 16)  # d2l is time-major
    assert state.shape == (2, 4, 16)
    assert torch.allclose(outputs[-1], state[-1])
