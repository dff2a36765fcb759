"""An interactive translator for a notebook (chapter 7): type a sentence, see the n-best list
with scores and the best translation's attention map.

    nbest_with_attention(model, "I am cold.")  -> Translation (n-best, tokens, weights)
    show(translation)                          print the n-best list, draw the heatmap
    translator(model, example="I am cold.")    show the example; then, where a widget front
                                               end can be, an ipywidgets text box that does
                                               the same for whatever is typed into it

Without ipywidgets, outside a notebook kernel, in CI or with S2S_QUIET=1 (nbval, scripts)
`translator` shows the example and returns None: the printed output is the whole result.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from s2s import settings
from s2s.arguments import check_bool, check_int
from s2s.data import source_batch
from s2s.decoding import (
    batched_beam_search,
    check_materialised,
    encode_sentences,
    output_limit,
)
from s2s.models import AttendingState, Seq2Seq
from s2s.subwords import detokenize_as
from s2s.vocab import BOS


@dataclass
class Translation:
    """One sentence's n-best list and the attention of its best hypothesis."""

    sentence: str
    nbest: list[tuple[str, float]]  # (detokenised text, log-probability), best first
    source: list[str]  # the source tokens and "<eos>": the heatmap's columns
    target: list[str]  # the best hypothesis's tokens and "<eos>": its rows
    weights: Tensor | None  # (len(target), len(source)); None for a model without attention


@torch.no_grad()
def nbest_with_attention(model: Seq2Seq, sentence: str, *, beam_size: int = 5, n_best: int = 3,
                         max_len: int | None = None) -> Translation:
    """Beam search on one raw sentence: its `n_best` hypotheses with their scores (sums of
    log-probabilities), and the attention weights of the best one, recorded by running the
    decoder over it with teacher forcing (the very probabilities beam search scored)."""
    check_materialised(model, "nbest_with_attention")
    if isinstance(sentence, bytes | bytearray):
        raise TypeError("nbest_with_attention(sentence=...) takes text, not bytes: decode them "
                        "first, e.g. sentence.decode('utf-8')")
    if not isinstance(sentence, str):
        raise TypeError(f"sentence must be a str, not {type(sentence).__name__}")
    check_int("beam_size", beam_size, low=1, hint="the hypotheses beam search keeps, e.g. 5")
    check_int("n_best", n_best, low=1, hint="how many hypotheses to return")
    if n_best > beam_size:
        raise ValueError(f"n_best={n_best} is more than beam_size={beam_size}: beam search keeps "
                         "beam_size hypotheses; raise beam_size or lower n_best")
    model.eval()
    tokens, _ = encode_sentences(model, [sentence])
    device = next(model.parameters()).device
    src, src_len = source_batch(model.src_vocab, tokens, device)
    hyps = batched_beam_search(model, src, src_len, beam_size, output_limit(model, max_len),
                               n_best=n_best)[0]
    kind = model.config.tokenizers[1]
    nbest = [(detokenize_as(kind, model.tgt_vocab, model.tgt_vocab.decode(h.value)), h.score)
             for h in hyps]
    best = hyps[0].value
    target = [model.tgt_vocab.itos[i] for i in best] + ["<eos>"]
    state = model.encode(src, src_len)
    _, state = model.decoder(torch.tensor([[BOS, *best]], device=device), state)
    weights = state.weights[0].cpu() if isinstance(state, AttendingState) else None
    source = tokens[0] + ["<eos>"]
    return Translation(sentence, nbest, source, target, weights)


def nbest_text(translation: Translation) -> str:
    """The n-best list as text: rank, score, translation."""
    lines = [f"{translation.sentence!r}:"]
    lines += [f"  {rank}. {score:8.3f}  {text}"
              for rank, (text, score) in enumerate(translation.nbest, 1)]
    return "\n".join(lines)


def show(translation: Translation) -> None:
    """Print the n-best list and draw the best hypothesis's attention heatmap."""
    import matplotlib.pyplot as plt

    from s2s.plot import attention_heatmap

    print(nbest_text(translation))
    if translation.weights is not None:
        attention_heatmap(translation.weights, translation.source, translation.target,
                          title="attention of the best translation")
        plt.show()


def widgets_possible() -> bool:
    """Whether an ipywidgets front end can be there: ipywidgets importable, a notebook
    kernel, not CI and not S2S_QUIET=1 (nbval and scripts have no front end)."""
    from s2s.progress import in_notebook

    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return in_notebook() and not settings.quiet()


def translator(model: Seq2Seq, example: str = "I am cold.", *, beam_size: int = 5,
               n_best: int = 3, interactive: bool | None = None):
    """Show the example's n-best list and attention map; then, when `interactive` (default:
    `widgets_possible()`), return an ipywidgets box — a text field and an output area — that
    shows the same for each sentence typed and entered. Returns the box, or None."""
    if interactive is not None:
        check_bool("translator(interactive=...)", interactive,
                   hint="None: a widget where a notebook front end can show one")
    show(nbest_with_attention(model, example, beam_size=beam_size, n_best=n_best))
    if not (widgets_possible() if interactive is None else interactive):
        return None
    import ipywidgets as widgets

    text = widgets.Text(value=example, description="English:", continuous_update=False,
                        layout=widgets.Layout(width="60%"))
    output = widgets.Output()

    def render(change: dict) -> None:
        output.clear_output(wait=True)
        with output:
            try:
                show(nbest_with_attention(model, change["new"], beam_size=beam_size,
                                          n_best=n_best))
            except (TypeError, ValueError) as err:  # an empty sentence, say
                print(f"cannot translate: {err}")

    text.observe(render, names="value")
    return widgets.VBox([text, output])
