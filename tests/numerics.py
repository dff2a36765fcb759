"""What the library computes, recorded: the cache guard and the refactorings' safety net.

`compute()` runs tiny seeded models of every kind (RNN, Bahdanau, Luong and CS224n's "nmt" with
every attention score, input feeding; GRU and LSTM; one and two layers; uni- and bidirectional;
the Transformer post- and pre-norm) and returns their teacher-forcing logits, greedy outputs
and attention weights, batched beam search results, the losses of a few training steps (plain,
with dropout, with feed-back), the data pipeline's tokens, vocabulary and batches, the model
configs the chapters' helpers build at every profile, and the cache file names of the chapters'
cached models (so a learner's cache stays valid). tests/test_numerics.py compares it with
tests/data/numerics.json, which also holds the CACHE_VERSION it was recorded under.

When a change is meant to alter these numbers, raise CACHE_VERSION in
utils/s2s/cache_version.py and re-record (the recorder refuses changed numbers under the old
version, so cached models of the old code are never reused):

    PYTHONPATH=utils python tests/numerics.py          # re-record
    PYTHONPATH=utils python tests/numerics.py --check  # compare only (exit 1 on a change)
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from itertools import islice
from pathlib import Path

import torch

HERE = Path(__file__).parent
FIXTURE = HERE / "data" / "numerics.json"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from s2s import PROFILES, zoo  # noqa: E402
from s2s.data import Splits, TranslationData  # noqa: E402
from s2s.decoding import batched_beam_search, greedy  # noqa: E402
from s2s.download import Release  # noqa: E402
from s2s.models import ModelConfig, build_model  # noqa: E402
from s2s.text import (  # noqa: E402
    TOKENIZERS,
    ParseReport,  # noqa: E402
    normalize,
)
from s2s.train import TrainConfig, fit  # noqa: E402
from s2s.vocab import Vocab  # noqa: E402
from tiny import tiny_data  # noqa: E402

# (name, kind, ModelConfig fields): every kind and the options each one really uses
KINDS: list[tuple[str, str, dict]] = [
    ("rnn-gru", "rnn", {}),
    ("rnn-lstm-bi-2", "rnn", {"cell": "lstm", "bidirectional": True, "num_layers": 2}),
    ("bahdanau-gru-bi", "bahdanau", {"bidirectional": True, "attention": "additive"}),
    ("bahdanau-lstm-2", "bahdanau", {"cell": "lstm", "num_layers": 2}),
    ("luong-general", "luong", {}),
    ("luong-additive-bi", "luong", {"bidirectional": True, "attention": "additive"}),
    ("luong-dot", "luong", {"attention": "dot"}),
    ("luong-scaled-dot", "luong", {"attention": "scaled_dot"}),
    ("luong-concat-lstm", "luong", {"cell": "lstm", "attention": "concat"}),
    ("luong-feed-lstm-bi-2", "luong", {"cell": "lstm", "bidirectional": True,
                                       "num_layers": 2, "input_feeding": True}),
    ("luong-scaled-general", "luong", {"attention": "scaled_general"}),
    ("nmt-lstm-bi-feed", "nmt", {"cell": "lstm", "bidirectional": True,
                                 "input_feeding": True, "attention": "additive"}),
    ("nmt-general-gru", "nmt", {"attention": "general"}),
    ("transformer-post", "transformer", {"embed_size": 12, "num_heads": 2}),
    ("transformer-pre-learned-2", "transformer", {"embed_size": 12, "num_heads": 3,
                                                  "num_layers": 2, "norm_first": True,
                                                  "positions": "learned", "ff_size": 20}),
]


def _floats(t: torch.Tensor) -> list:
    return t.detach().double().tolist()


def _model(data: TranslationData, kind: str, extra: dict, seed: int, dropout: float = 0.0):
    torch.manual_seed(seed)
    config = ModelConfig(kind, len(data.src_vocab), len(data.tgt_vocab), hidden_size=12,
                         num_layers=extra.pop("num_layers", 1), dropout=dropout, max_len=5,
                         **{"embed_size": 8, **extra})
    return build_model(config, data.src_vocab, data.tgt_vocab)


def model_numbers(data: TranslationData) -> dict:
    """Logits, greedy ids and weights, beam hypotheses of every kind, untrained and seeded."""
    src, src_len, tgt_in, _ = next(iter(data.loader("valid", 4, shuffle=False)))
    out = {}
    for seed, (name, kind, extra) in enumerate(KINDS):
        model = _model(data, kind, dict(extra), seed).eval()
        with torch.no_grad():
            logits = model(src, src_len, tgt_in)  # (B, T, V)
        entry = {"logits": _floats(logits)}
        if kind == "rnn":
            entry["greedy"] = greedy(model, src, src_len, 6)
        else:
            ids, weights = greedy(model, src, src_len, 6, return_attention=True)
            entry["greedy"], entry["weights"] = ids, [_floats(w) for w in weights]
        beams = batched_beam_search(model, src, src_len, beam_size=3, max_len=6, n_best=2)
        entry["beam"] = [[[h.value, h.score] for h in hyps] for hyps in beams]
        out[name] = entry
    return out


def training_numbers(data: TranslationData) -> dict:
    """Step and validation losses of a few seeded training steps per kind."""
    out = {}
    for seed, (name, kind, extra) in enumerate(KINDS):
        torch.manual_seed(100 + seed)
        model = _model(data, kind, dict(extra), seed, dropout=0.2)
        cfg = TrainConfig(max_steps=4, eval_every=2, lr=1e-2, batch_size=32, seed=seed,
                          feed_back=0.5 if seed % 3 == 0 else 0.0, lr_decay=0.5,
                          precision="fp32")  # the same numbers on any CPU
        history = fit(model, data, cfg, progress=False)
        out[name] = {"step_loss": history.step_loss, "val_loss": history.val_loss}
    return out


def _fake_data(src_size: int, tgt_size: int, tokenizers=("word", "word")) -> TranslationData:
    """A corpus with the vocabulary sizes and parameters of a real one, and no sentences."""
    params = {"dataset": "fra-eng", "release": "fra-eng-2024", "max_len": 12,
              "max_pairs": None, "min_freq": 5, "valid_frac": 0.05, "test_frac": 0.05,
              "seed": 0, "tokenizers": list(tokenizers)}
    return TranslationData(Release("synthetic", "synthetic", "-", "", None, None, "fake"),
                           ParseReport(), Splits([], [], []),
                           Vocab([f"s{i}" for i in range(src_size - 4)]),
                           Vocab([f"t{i}" for i in range(tgt_size - 4)]), tokenizers, params)


def _cached_name(function, *args, **kwargs) -> str:
    """The cache file `function(*args, **kwargs)` (cached_model or attention_model) would
    train into, with training replaced by writing an empty checkpoint."""
    from s2s.checkpoints import History

    module = importlib.import_module(zoo.cached_model.__module__)
    real_fit = module.fit

    def fake_fit(model, data, cfg, *, checkpoint, **kwargs):
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        Path(checkpoint).write_bytes(b"")
        return History()

    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("S2S_CACHE_DIR")
        os.environ["S2S_CACHE_DIR"] = cache
        module.fit = fake_fit
        try:
            function(*args, **kwargs)
            (path,) = (Path(cache) / "models").iterdir()
        finally:
            module.fit = real_fit
            if old is None:
                del os.environ["S2S_CACHE_DIR"]
            else:
                os.environ["S2S_CACHE_DIR"] = old
    return path.name


def chapter_numbers() -> dict:
    """The configs the chapters' helpers build, and the cache files of chapter 4's models."""
    out = {}
    for profile in PROFILES.values():
        data = _fake_data(5000 + len(profile.name), 7000 + len(profile.name))
        configs = {
            "rnn": zoo.profile_config("rnn", profile, data),
            "rnn-lstm": zoo.profile_config("rnn", profile, data, cell="lstm"),
            "bahdanau": zoo.profile_config("bahdanau", profile, data, bidirectional=True,
                                           attention="additive"),
            "luong": zoo.profile_config("luong", profile, data, bidirectional=True,
                                        attention="additive"),
        }
        short = zoo.profile_train_config(profile, max_steps=profile.compare_steps)
        entry = {name: c.to_dict() for name, c in configs.items()}
        entry["train"] = zoo.train_key(short)
        entry["cached"] = {name: _cached_name(zoo.cached_model, f"ch04-{c.kind}", c, data,
                                              short, profile=profile.name)
                           for name, c in configs.items()}
        entry["cached"]["attention_model"] = _cached_name(zoo.attention_model, profile, data)
        out[profile.name] = entry
    return out


SENTENCES = ["Je n'ai pas froid !", "It's 5 o'clock, Tom.", "我们走吧。", "  Ça va?\tOui."]


def data_numbers(data: TranslationData) -> dict:
    """Tokens of each tokeniser, a vocabulary's ids, and the first training batches (bucketed
    and plain) in their seeded order."""
    tokens = {kind: [tokenize(normalize(s)) for s in SENTENCES]
              for kind, tokenize in TOKENIZERS.items()}
    vocab = Vocab.build(tokens["word"] + tokens["char"], 1)
    batches = {}
    for bucket in (True, False):
        loader = data.loader("train", 16, seed=1, bucket=bucket)
        loader.batch_sampler.epoch = 1
        batches[str(bucket)] = [[t.tolist() for t in batch] for batch in islice(loader, 2)]
    return {"tokens": tokens, "vocab": vocab.itos, "ids": vocab.encode(tokens["word"][0]),
            "batches": batches}


def compute() -> dict:
    data = tiny_data(n_train=96, n_valid=16, n_test=8)
    return {"models": model_numbers(data), "training": training_numbers(data),
            "data": data_numbers(data), "chapters": chapter_numbers()}


def compare(got, want, where: str = "") -> list[str]:
    """Differences between two recorded structures: floats to 1e-6, everything else exactly."""
    if isinstance(want, float) or isinstance(got, float):
        ok = (isinstance(got, int | float) and isinstance(want, int | float)
              and abs(got - want) <= 1e-6 * max(1.0, abs(want)))
        return [] if ok else [f"{where}: {got!r} != {want!r}"]
    if isinstance(want, dict) and isinstance(got, dict):
        if got.keys() != want.keys():
            return [f"{where}: keys {sorted(got)} != {sorted(want)}"]
        return [d for k in want for d in compare(got[k], want[k], f"{where}.{k}")]
    if isinstance(want, list | tuple) and isinstance(got, list | tuple):
        if len(got) != len(want):
            return [f"{where}: length {len(got)} != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True))
                for d in compare(g, w, f"{where}[{i}]")]
    return [] if got == want else [f"{where}: {got!r} != {want!r}"]


def normalised(numbers: dict) -> dict:
    """Through JSON and back: tuples become lists, as in the stored file."""
    return json.loads(json.dumps(numbers))


def recorded(fixture: Path = FIXTURE) -> tuple[int, dict]:
    """(the CACHE_VERSION the fixture was recorded under, its numbers)."""
    stored = json.loads(fixture.read_text())
    return stored["cache_version"], stored["numbers"]


HOW = ("If the change is meant to alter what training computes, raise CACHE_VERSION in "
       "utils/s2s/cache_version.py and re-record with `PYTHONPATH=utils python "
       "tests/numerics.py`; otherwise the change has a bug.")


def record(numbers: dict, fixture: Path, version: int) -> None:
    """Write `numbers` under `version`; changed numbers under the version they replace are
    refused (a cached model of the old code would be taken for one of the new)."""
    if fixture.exists():
        old_version, old = recorded(fixture)
        if old_version == version and compare(normalised(numbers), old):
            raise SystemExit(f"the numbers changed but CACHE_VERSION is still {version}: raise "
                             "CACHE_VERSION in utils/s2s/cache_version.py first")
    fixture.parent.mkdir(exist_ok=True)
    stored = {"cache_version": version, "numbers": numbers}
    fixture.write_text(json.dumps(stored, indent=None, sort_keys=True) + "\n")


if __name__ == "__main__":
    from s2s.cache_version import CACHE_VERSION

    if sys.argv[1:] == ["--check"]:
        differences = compare(normalised(compute()), recorded()[1])
        if differences:
            print(f"{len(differences)} recorded numbers changed, first: {differences[:3]}. "
                  + HOW)
            sys.exit(1)
        print("the recorded numbers hold")
    else:
        record(compute(), FIXTURE, CACHE_VERSION)
        print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size:,} bytes, CACHE_VERSION "
              f"{CACHE_VERSION})")
