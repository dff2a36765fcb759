"""benchmarks/step_profile.py on a tiny CS224n model: every part timed, shares that add up."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from s2s.models import ModelConfig, build_model
from s2s.train import TrainConfig
from tiny import tiny_data

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_part_of_a_step_is_timed_and_the_model_is_put_back():
    step_profile = load("step_profile")
    data = tiny_data()
    config = ModelConfig("nmt", len(data.src_vocab), len(data.tgt_vocab), embed_size=16,
                         hidden_size=16, num_layers=1, dropout=0.1, cell="lstm",
                         bidirectional=True, input_feeding=True, attention="additive")
    torch.manual_seed(0)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    out_weight = model.decoder.out.weight
    result = step_profile.profile_step(model, data, TrainConfig(batch_size=16), steps=3,
                                       repeat=1, precision="fp32", device=torch.device("cpu"))
    ms = result["ms_per_step"]
    assert set(ms) == {"whole_step", "data", "encoder", "decoder_steps", "attention",
                       "output_layer", "loss", "optimizer", "other"}
    assert all(value > 0 for name, value in ms.items() if name != "other")
    assert set(result["share_of_whole_step"]) == set(ms) - {"whole_step"}
    assert model.decoder.out.weight is out_weight  # the output layer put back
    assert isinstance(model.decoder.out, torch.nn.Linear)
    assert not model.decoder.attention._forward_hooks  # the recording hooks removed
    assert not model.decoder.out._forward_hooks
    assert result["target_tokens_per_step"] > 0


def test_replayed_inputs_are_new_leaves_that_want_their_gradient():
    """The keys the decoder projected once per sentence get their gradient in the real step:
    the replayed attention must ask for it too, or it times less than the step does."""
    step_profile = load("step_profile")
    keys = torch.randn(2, 3, 4)
    assert step_profile.leaf(keys).requires_grad and step_profile.leaf(keys) is not keys
    assert step_profile.leaf(torch.tensor([1, 2])).requires_grad is False
