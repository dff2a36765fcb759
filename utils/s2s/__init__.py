"""s2s: the library of the course "Sequence to Sequence".

One module per concept: `profiles` (run sizes), `runtime` (device, seeds, self-checks),
`download` (corpus files), `text` (parsing, tokenisers), `bpe` (byte-pair encoding from
scratch), `subwords` (sentencepiece, the "spm" tokenizer), `vocab` (token ids), `data` (splits
to batches, `load_translation`), `models` (the interface and the models), `attention`
(scores, masked softmax), `train` (loss, loop), `checkpoints` (saving and loading a run),
`progress` (the live loss plot), `zoo` (the models the chapters share, trained once and
cached), `decoding` (greedy, `translate`), `inference` (a model's encoder part and decoder
step, Keras's decoding loop), `chars` (word and character level on the same pairs),
`metrics` (BLEU), `plot` (figures)."""

from s2s.decoding import translate
from s2s.profiles import PROFILES, Profile, get_profile
from s2s.runtime import CheckFailed, check, get_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "CheckFailed",
    "Profile",
    "check",
    "get_device",
    "get_profile",
    "seed_everything",
    "setup",
    "translate",
]


def setup(profile: str | None = None, seed: int = 0) -> tuple[Profile, object]:
    """A chapter's first call: pick the profile and device, seed everything, print both.

    Returns (profile, device)."""
    import torch

    chosen = get_profile(profile)
    device = get_device()
    seed_everything(seed)
    print(
        f"s2s {__version__} | profile: {chosen.name} | device: {device} | torch {torch.__version__}"
    )
    return chosen, device
