"""Import d2l 1.0.3's PyTorch library as an independent oracle for the tests.

`d2l.torch` imports torchvision at module level (for its image chapters only). No CPU build of
torchvision matches our pinned torch, so when the real one cannot be imported we register a
minimal stand-in: empty `torchvision`, `torchvision.transforms`, `torchvision.datasets` and
`torchvision.io` modules. Nothing that the sequence-to-sequence code of d2l touches uses them;
calling an image helper of d2l with the stand-in fails with an AttributeError, loudly.

d2l is installed with `pip install --no-deps d2l==1.0.3` by `make setup` (its own pins break on
Python >= 3.12)."""

from __future__ import annotations

import importlib
import sys
import types

STUB_MODULES = ("torchvision", "torchvision.transforms", "torchvision.datasets", "torchvision.io")


def _install_torchvision_stub() -> None:
    for name in STUB_MODULES:
        module = types.ModuleType(name)
        module.__doc__ = "Stand-in registered by tests/d2l_oracle.py: d2l's image code is unused."
        sys.modules[name] = module
    root = sys.modules["torchvision"]
    for name in STUB_MODULES[1:]:
        setattr(root, name.split(".")[1], sys.modules[name])


def load_d2l() -> types.ModuleType:
    """Return the `d2l.torch` module, with the torchvision stand-in only if needed."""
    try:
        importlib.import_module("torchvision")
    except Exception:  # not installed, or built for another torch
        for name in list(sys.modules):
            if name == "torchvision" or name.startswith("torchvision."):
                del sys.modules[name]
        _install_torchvision_stub()
    import matplotlib

    matplotlib.use("Agg")  # d2l sets an inline backend; tests draw nothing
    return importlib.import_module("d2l.torch")
