"""`source_batch`: tokenised sentences to a model's input, as `collate` builds a batch."""

from __future__ import annotations

import pytest
import torch

from s2s.data import PairDataset, collate, source_batch
from s2s.vocab import EOS, PAD, UNK, Vocab

VOCAB = Vocab(["a", "b", "c"])  # ids 4, 5, 6


def test_ids_eos_and_padding():
    src, src_len = source_batch(VOCAB, [["a", "b"], ["c"], ["b", "zebra", "a"]])
    assert src.tolist() == [[4, 5, EOS, PAD], [6, EOS, PAD, PAD], [5, UNK, 4, EOS]]
    assert src_len.tolist() == [3, 2, 4]
    assert src.dtype == src_len.dtype == torch.long


def test_the_same_source_as_a_training_batch():
    sentences = [["a", "b", "c"], ["c"], ["b", "a"]]
    dataset = PairDataset([(s, ["x"]) for s in sentences], VOCAB, VOCAB)
    src, src_len, _, _ = collate([dataset[i] for i in range(len(dataset))])
    got_src, got_len = source_batch(VOCAB, sentences)
    assert torch.equal(got_src, src) and torch.equal(got_len, src_len)


def test_device_moves_the_ids_and_keeps_the_lengths_on_the_cpu():
    src, src_len = source_batch(VOCAB, [["a"]], device="meta")
    assert src.device.type == "meta" and src_len.device.type == "cpu"


def test_raw_text_and_no_sentences_are_refused():
    with pytest.raises(TypeError, match="tokenised sentences .* not strings"):
        source_batch(VOCAB, ["a b"])
    with pytest.raises(TypeError, match="tokenize_words"):
        source_batch(VOCAB, "a b")
    with pytest.raises(ValueError, match="at least one sentence"):
        source_batch(VOCAB, [])
