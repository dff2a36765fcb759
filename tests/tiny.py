"""A tiny synthetic translation task for fast training tests: reverse a word sequence."""

from __future__ import annotations

import random

from s2s.data import Splits, TranslationData
from s2s.download import Release
from s2s.models import ModelConfig, build_model
from s2s.text import ParseReport
from s2s.vocab import Vocab

WORDS = [f"w{i}" for i in range(12)]


def tiny_data(n_train: int = 256, n_valid: int = 32, n_test: int = 32, seed: int = 0,
              max_len: int = 5) -> TranslationData:
    rng = random.Random(seed)

    def pairs(n: int):
        out = []
        for _ in range(n):
            src = [rng.choice(WORDS) for _ in range(rng.randint(1, max_len))]
            out.append((src, [w.upper() for w in reversed(src)]))
        return out

    splits = Splits(pairs(n_train), pairs(n_valid), pairs(n_test))
    release = Release("synthetic", "synthetic", "-", "", None, None, "generated in tests")
    return TranslationData(release, ParseReport(), splits,
                           Vocab.build([s for s, _ in splits.train], 1),
                           Vocab.build([t for _, t in splits.train], 1), ("word", "word"))


def tiny_model(data: TranslationData, cell: str = "gru", hidden: int = 32, seed: int = 0,
               max_len: int = 5):
    import torch

    torch.manual_seed(seed)
    config = ModelConfig("rnn", len(data.src_vocab), len(data.tgt_vocab), embed_size=16,
                         hidden_size=hidden, num_layers=1, dropout=0.0, cell=cell,
                         max_len=max_len)
    return build_model(config, data.src_vocab, data.tgt_vocab)


def trained_tiny(steps: int = 300):
    """A tiny model trained on the reversal task (well enough to translate it): (data, model)."""
    from s2s.train import TrainConfig, fit

    data = tiny_data(n_train=512)
    model = tiny_model(data, hidden=64)
    fit(model, data, TrainConfig(max_steps=steps, lr=1e-2, batch_size=32, eval_every=100),
        progress=False)
    return data, model
