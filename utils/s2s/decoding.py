"""Decoding: from a trained model to output token ids, and from raw text to raw text.

`greedy` picks the most likely token at every step (chapter 3); chapter 5 adds exhaustive
search and beam search, per sentence and batched. All of them talk to the model only through
`model.encode`, `model.decoder.step` and the decoder-state protocol of `s2s.models.base`: the
state's `select`, and the `weights` of a state that records attention (`AttendingState`).

Search: every search here scores a hypothesis y_1 .. y_n by the model's log-probability of
y_1 .. y_n <eos>. After `max_len` tokens a hypothesis must end (only <eos> may follow), and
<pad> and <bos> are never generated, so all searches explore the same space and the scores
are exactly comparable. Length normalisation changes only how hypotheses are *ranked*:

    none:     log p                       (favours short outputs)
    average:  log p / |y|                 (|y| counts the <eos>)
    gnmt:     log p / ((5 + |y|) / 6) ** alpha      (Wu et al. 2016)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal, NamedTuple, overload

import torch
from torch import Tensor
from torch.nn import functional as F

from s2s.arguments import check_int, check_real
from s2s.data import source_batch
from s2s.models import AttendingState, DecoderState, EncoderDecoder, Seq2Seq
from s2s.subwords import detokenize_as, tokenizer_of
from s2s.vocab import BOS, EOS, PAD


def never_generate(logits: Tensor) -> Tensor:
    """Logits with <pad> and <bos> made impossible: no decoder of the course outputs them."""
    return logits.index_fill(-1, torch.tensor([PAD, BOS], device=logits.device), float("-inf"))


Outputs = list[list[int]]  # per sentence, its output token ids (without <bos> and <eos>)


@overload
def greedy(model: EncoderDecoder, src: Tensor, src_len: Tensor, max_len: int,
           return_attention: Literal[False] = False) -> Outputs: ...


@overload
def greedy(model: EncoderDecoder, src: Tensor, src_len: Tensor, max_len: int,
           return_attention: Literal[True]) -> tuple[Outputs, list[Tensor]]: ...


@torch.no_grad()
def greedy(model: EncoderDecoder, src: Tensor, src_len: Tensor, max_len: int,
           return_attention: bool = False) -> Outputs | tuple[Outputs, list[Tensor]]:
    """Batched greedy decoding.

    src: (B, S); src_len: (B,). At each step, the most likely token (never <pad> or <bos>).
    Each sentence stops at its first <eos> (not included in the output) or after `max_len`
    tokens. Returns B lists of token ids; with `return_attention=True`, (those lists, B
    attention-weight tensors), sentence b's of shape (len(outputs[b]) + 1, src_len[b]) (the
    last row is the step that wrote <eos>), for decoders whose state records them
    (`AttendingState`)."""
    check_int("max_len", max_len, low=1, hint="the most tokens an output may have")
    check_source(model, src, src_len, "greedy")
    model.eval()
    state = model.encode(src, src_len)
    batch = src.shape[0]
    token = torch.full((batch,), BOS, dtype=torch.long, device=src.device)  # (B,)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)  # (B,)
    out = torch.full((batch, max_len), PAD, dtype=torch.long)  # (B, max_len)
    attention = []
    for t in range(max_len):
        logits, state = model.decoder.step(token, state)  # (B, V)
        token = never_generate(logits).argmax(dim=-1)  # (B,)
        out[:, t] = torch.where(finished, PAD, token).cpu()
        if return_attention:
            if not isinstance(state, AttendingState) or state.weights is None:
                raise ValueError(f"{type(model.decoder).__name__} records no attention weights "
                                 "in its state: call greedy without return_attention")
            attention.append(state.weights[:, -1].cpu())  # (B, S)
        finished |= token == EOS
        if finished.all():
            break
    outputs = [[i for i in row if i != PAD][: row.index(EOS) if EOS in row else None]
               for row in out.tolist()]
    if not return_attention:
        return outputs
    weights = torch.stack(attention, dim=1)  # (B, steps, S)
    return outputs, [weights[b, : len(o) + 1, : int(src_len[b])] for b, o in enumerate(outputs)]


def check_materialised(model: Seq2Seq, who: str) -> None:
    """Refuse what is not a model of the course (a Seq2Seq: weights, config and vocabularies,
    as `build_model` or `load_checkpoint` make it), and a model whose weights are on the `meta`
    device (shapes without values, as `torch.device("meta")` or a lazy loader leaves them):
    its outputs would be meaningless."""
    if not (isinstance(model, torch.nn.Module)
            and all(hasattr(model, a) for a in ("config", "src_vocab", "tgt_vocab"))):
        raise TypeError(f"{who}(model=...) must be a trained s2s model (a Seq2Seq, from "
                        "s2s.models.build_model or s2s.checkpoints.load_checkpoint), got "
                        f"{type(model).__name__}")
    if any(p.device.type == "meta" for p in model.parameters()):
        raise ValueError(f"{who}: the model's weights are on the meta device (shapes without "
                         "values): load real weights first, e.g. with "
                         "s2s.checkpoints.load_checkpoint, or model.to_empty(device='cpu') and "
                         "load_state_dict")


def check_source(model: EncoderDecoder, src: Tensor, src_len: Tensor, who: str, *,
                 single: bool = False) -> None:
    """Refuse a source batch the model cannot read, before torch fails deep inside the encoder
    (or, on a GPU, with a device-side assert): src must be a (B, S) tensor of integer ids on
    the model's device (within its source vocabulary, when the model has one), src_len a (B,)
    integer tensor of lengths in 1..S (on the CPU or src's device); `single`: B must be 1."""
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "encode"):
        raise TypeError(f"{who}(model=...) must be an encoder-decoder (s2s.models."
                        f"EncoderDecoder), got {type(model).__name__}")
    fix = "build them with s2s.data.source_batch"
    if not isinstance(src, Tensor) or src.dim() != 2 or src.dtype not in (torch.long, torch.int):
        what = (f"a {tuple(src.shape)} {src.dtype} tensor" if isinstance(src, Tensor)
                else type(src).__name__)
        raise TypeError(f"{who}(src=...) must be a (B, S) tensor of integer token ids, got "
                        f"{what}: {fix}")
    if not isinstance(src_len, Tensor) or src_len.dim() != 1 or src_len.dtype not in (
            torch.long, torch.int):
        what = (f"a {tuple(src_len.shape)} {src_len.dtype} tensor" if isinstance(src_len, Tensor)
                else type(src_len).__name__)
        raise TypeError(f"{who}(src_len=...) must be a (B,) tensor of integer lengths, got "
                        f"{what}: {fix}")
    batch, width = src.shape
    if batch == 0 or width == 0:
        raise ValueError(f"{who}(src=...) has shape {tuple(src.shape)}: there is no sentence "
                         "to decode")
    if single and batch != 1:
        raise ValueError(f"{who} decodes one sentence (src of shape (1, S)), got a batch of "
                         f"{batch}: use batched_beam_search, or pass src[b:b + 1], "
                         "src_len[b:b + 1]")
    if len(src_len) != batch:
        raise ValueError(f"{who}(src_len=...) has {len(src_len)} lengths for the {batch} rows "
                         "of src: give one length per sentence")
    weight = next(model.parameters(), None)
    if weight is not None and src.device != weight.device:
        raise ValueError(f"{who}(src=...) is on {src.device}, the model's weights on "
                         f"{weight.device}: move one to the other, e.g. "
                         f"src.to({str(weight.device)!r})")
    if src_len.device not in (torch.device("cpu"), src.device):
        raise ValueError(f"{who}(src_len=...) is on {src_len.device}: keep it on the CPU (as "
                         "source_batch does) or on src's device")
    if weight is not None and weight.device.type == "meta":
        return  # no values to check; check_materialised refuses such a model where it matters
    low, high = int(src_len.min()), int(src_len.max())
    if low < 1 or high > width:
        raise ValueError(f"{who}(src_len=...) holds lengths from {low} to {high}, outside "
                         f"1..{width} (src has {width} columns): each length counts a "
                         "sentence's ids, its <eos> included")
    vocab = getattr(model, "src_vocab", None)
    if vocab is not None and (int(src.min()) < 0 or int(src.max()) >= len(vocab)):
        raise ValueError(f"{who}(src=...) holds ids from {int(src.min())} to {int(src.max())}, "
                         f"outside the model's source vocabulary (0..{len(vocab) - 1}): encode "
                         "the sentences with model.src_vocab")


def encode_sentences(model: Seq2Seq, sentences: Sequence[str]) -> tuple[list[list[str]],
                                                                       list[list[int]]]:
    """Check and tokenise raw sentences; returns (tokens, ids + <eos>) per sentence.

    Raises TypeError for a non-string and ValueError for an empty or whitespace-only sentence;
    warns when a sentence is longer than the model was trained for."""
    tokenize = tokenizer_of(model.config.tokenizers[0], model.src_vocab)  # "spm": its model
    tokens, ids = [], []
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise TypeError(f"sentence {i} is a {type(sentence).__name__}, not a str: "
                            "translate takes a string or a list of strings")
        if sentence and not sentence.strip():
            raise ValueError(f"sentence {i} is empty (only whitespace: {sentence!r:.40}): "
                             "there is nothing to translate")
        toks = tokenize(sentence)
        if not toks:
            raise ValueError(f"sentence {i} is empty: there is nothing to translate")
        if len(toks) > model.config.max_len:
            warnings.warn(f"sentence {i} has {len(toks)} tokens, more than the "
                          f"{model.config.max_len} the model was trained on: expect a poor "
                          "translation", stacklevel=3)
        tokens.append(toks)
        ids.append(model.src_vocab.encode(toks) + [EOS])
    return tokens, ids


def output_limit(model: Seq2Seq, max_len: int | None) -> int:
    """The most tokens a translation may have: `max_len`, or by default twice the longest
    source the model was trained on, plus 10."""
    check_int("max_len", max_len, low=1, none_ok=True,
              hint="the most tokens an output may have; None: twice the model's max_len + 10")
    return max_len if max_len is not None else 2 * model.config.max_len + 10


def translate(model: Seq2Seq, sentences: str | Sequence[str], *, max_len: int | None = None,
              batch_size: int = 256, beam_size: int | None = None,
              length_penalty: str | None = None, alpha: float = 0.6) -> str | list[str]:
    """Translate raw text: a string gives a string, a list a list.

    Greedy decoding by default; with `beam_size`, batched beam search (and optionally a length
    penalty, see `normalised`). Unknown words become <unk> on the way in."""
    single = isinstance(sentences, str)
    batch = [sentences] if single else sentences
    if isinstance(sentences, bytes | bytearray):
        raise TypeError("translate takes text, not bytes: decode them first, e.g. "
                        "sentences.decode('utf-8')")
    if not single and not isinstance(sentences, Sequence):
        raise TypeError(f"translate takes a string or a list of strings, not "
                        f"{type(sentences).__name__}")
    check_materialised(model, "translate")
    limit = output_limit(model, max_len)
    check_int("batch_size", batch_size, low=1, hint="sentences decoded at once")
    check_search(beam_size, 1, length_penalty, alpha, beam_none_ok=True)
    tokens, _ = encode_sentences(model, batch)
    device = next(model.parameters()).device
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))  # similar lengths together
    results: list[str] = [""] * len(tokens)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        src, src_len = source_batch(model.src_vocab, [tokens[i] for i in chunk], device)
        if beam_size is None:
            outputs = greedy(model, src, src_len, limit)
        else:
            outputs = [hyps[0].value for hyps in batched_beam_search(
                model, src, src_len, beam_size, limit, length_penalty=length_penalty,
                alpha=alpha)]
        for i, out in zip(chunk, outputs, strict=True):
            results[i] = detokenize_as(model.config.tokenizers[1], model.tgt_vocab,
                                       model.tgt_vocab.decode(out))
    return results[0] if single else results


# ---------------------------------------------------------------------------------------------
# Search (chapter 5)

NEG_INF = float("-inf")


class Hypothesis(NamedTuple):
    """One output: its token ids (without <bos>/<eos>) and its log-probability (with <eos>)."""

    value: list[int]
    score: float


def check_search(beam_size: int | None, n_best: int, length_penalty: str | None,
                 alpha: float, *, beam_none_ok: bool = False) -> None:
    """Refuse search settings that would be reinterpreted or fail deep inside torch."""
    check_int("beam_size", beam_size, low=1, none_ok=beam_none_ok,
              hint="the number of hypotheses kept at each step" +
                   ("; None: greedy decoding" if beam_none_ok else ""))
    _check_ranking(n_best, length_penalty, alpha)
    if beam_size is not None and n_best > beam_size:
        raise ValueError(f"n_best={n_best} needs beam_size >= n_best, got {beam_size}")
    if beam_size is None and length_penalty not in (None, "none"):
        raise ValueError(f"length_penalty={length_penalty!r} ranks beam search's hypotheses, "
                         "and greedy decoding has none to rank: pass beam_size too")


def _check_ranking(n_best: int, length_penalty: str | None, alpha: float) -> None:
    check_int("n_best", n_best, low=1)
    if length_penalty not in LENGTH_PENALTIES:
        raise ValueError(f"length_penalty must be None, 'average' or 'gnmt', not "
                         f"{length_penalty!r}")
    check_real("alpha", alpha, low=0)


LENGTH_PENALTIES = (None, "none", "average", "gnmt")


def normalised(score: float, length: int, length_penalty: str | None, alpha: float) -> float:
    """The ranking score of a hypothesis of `length` tokens (its <eos> included)."""
    if length_penalty is None or length_penalty == "none":
        return score
    if length_penalty == "average":
        return score / length
    if length_penalty == "gnmt":
        return score / ((5 + length) / 6) ** alpha
    raise ValueError(f"length_penalty must be None, 'average' or 'gnmt', not {length_penalty!r}")


def _rank(hyps: list[Hypothesis], length_penalty: str | None, alpha: float) -> list[Hypothesis]:
    return sorted(hyps, key=lambda h: -normalised(h.score, len(h.value) + 1, length_penalty,
                                                  alpha))


def _step_log_probs(model: EncoderDecoder, tokens: Tensor, state: DecoderState,
                    at_limit: bool) -> tuple[Tensor, DecoderState]:
    """tokens (N,) -> log-probabilities (N, V) of the next token, <pad>/<bos> impossible, and
    only <eos> possible once a hypothesis has `max_len` tokens; and the next state."""
    logits, state = model.decoder.step(tokens, state)
    log_probs = F.log_softmax(logits.float(), dim=-1)  # (N, V): the model's own distribution
    log_probs = never_generate(log_probs)
    if at_limit:
        only_eos = torch.full_like(log_probs, NEG_INF)
        only_eos[:, EOS] = log_probs[:, EOS]
        log_probs = only_eos
    return log_probs, state


@torch.no_grad()
def exhaustive_search(model: EncoderDecoder, src: Tensor, src_len: Tensor, max_len: int,
                      n_best: int = 1, length_penalty: str | None = None,
                      alpha: float = 0.6) -> list[Hypothesis]:
    """Score every possible output of one sentence (src: (1, S)) and return the n best.

    Only for tiny problems: there are `count_outputs(V, max_len)` outputs. The test oracle."""
    _check_ranking(n_best, length_penalty, alpha)
    check_int("max_len", max_len, low=0)
    check_source(model, src, src_len, "exhaustive_search", single=True)
    model.eval()
    state = model.encode(src, src_len)
    prefixes: list[Hypothesis] = [Hypothesis([], 0.0)]
    finished: list[Hypothesis] = []
    for t in range(max_len + 1):
        tokens = torch.tensor([h.value[-1] if h.value else BOS for h in prefixes],
                              device=src.device)
        log_probs, state = _step_log_probs(model, tokens, state, at_limit=t == max_len)
        longer, parents = [], []
        for i, (prefix, row) in enumerate(zip(prefixes, log_probs.tolist(), strict=True)):
            for token, log_p in enumerate(row):
                if log_p == NEG_INF:
                    continue
                if token == EOS:
                    finished.append(Hypothesis(prefix.value, prefix.score + log_p))
                else:
                    longer.append(Hypothesis(prefix.value + [token], prefix.score + log_p))
                    parents.append(i)
        if not longer:
            break
        prefixes = longer
        state = state.select(torch.tensor(parents, device=src.device))
    return _rank(finished, length_penalty, alpha)[:n_best]


def count_outputs(vocab_size: int, max_len: int) -> int:
    """How many outputs exhaustive search scores: (V - 3) ** n for each n <= max_len
    (every token but <pad>, <bos>, <eos>; then <eos>)."""
    return sum((vocab_size - 3) ** n for n in range(max_len + 1))


@torch.no_grad()
def beam_search(model: EncoderDecoder, src: Tensor, src_len: Tensor, beam_size: int,
                max_len: int, n_best: int = 1, length_penalty: str | None = None,
                alpha: float = 0.6) -> list[Hypothesis]:
    """Beam search for one sentence (src: (1, S)), written to be read.

    Keep the `beam_size` best unfinished hypotheses. At each step, expand each by every next
    token, and walk the expansions from best to worst: one that ends in <eos> is finished;
    any other joins the new beam until the beam is full. Stop when n_best hypotheses are
    finished and no unfinished one can still beat them (exact without length normalisation,
    since log-probabilities only fall as a hypothesis grows), or after max_len tokens."""
    check_search(beam_size, n_best, length_penalty, alpha)
    check_int("max_len", max_len, low=0)
    check_source(model, src, src_len, "beam_search", single=True)
    model.eval()
    state = model.encode(src, src_len)
    alive: list[Hypothesis] = [Hypothesis([], 0.0)]
    finished: list[Hypothesis] = []
    for t in range(max_len + 1):
        tokens = torch.tensor([h.value[-1] if h.value else BOS for h in alive], device=src.device)
        log_probs, state = _step_log_probs(model, tokens, state, at_limit=t == max_len)
        scores = torch.tensor([h.score for h in alive], device=src.device)[:, None] + log_probs
        order = scores.view(-1).argsort(descending=True).tolist()
        vocab = log_probs.shape[-1]
        new_alive, parents = [], []
        for flat in order:
            parent, token = divmod(flat, vocab)
            score = scores[parent, token].item()
            if score == NEG_INF or len(new_alive) == beam_size:
                break
            if token == EOS:
                finished.append(Hypothesis(alive[parent].value, score))
            else:
                new_alive.append(Hypothesis(alive[parent].value + [token], score))
                parents.append(parent)
        ranking = [normalised(h.score, len(h.value) + 1, length_penalty, alpha) for h in new_alive]
        if _done(finished, ranking, n_best, length_penalty, alpha):
            break
        alive = new_alive
        state = state.select(torch.tensor(parents, device=src.device))
    return _rank(finished, length_penalty, alpha)[:n_best]


def _done(finished: list[Hypothesis], alive_ranking: list[float], n_best: int,
          length_penalty: str | None, alpha: float) -> bool:
    """Stop when nothing is alive, or when n_best hypotheses are finished and the best alive
    one (its ranking score as if it ended now) does not beat the n-th best finished one."""
    if not alive_ranking:
        return True
    if len(finished) < n_best:
        return False
    nth = _rank(finished, length_penalty, alpha)[n_best - 1]
    return max(alive_ranking) <= normalised(nth.score, len(nth.value) + 1, length_penalty, alpha)


@torch.no_grad()
def batched_beam_search(model: EncoderDecoder, src: Tensor, src_len: Tensor, beam_size: int,
                        max_len: int, n_best: int = 1, length_penalty: str | None = None,
                        alpha: float = 0.6) -> list[list[Hypothesis]]:
    """Beam search for a whole batch at once: the same search as `beam_search`, with the
    B sentences x K beams flattened into one decoder batch of B*K rows.

    src: (B, S); src_len: (B,). Returns, per sentence, its n_best hypotheses, best first."""
    check_search(beam_size, n_best, length_penalty, alpha)
    check_int("max_len", max_len, low=0)
    check_source(model, src, src_len, "batched_beam_search")
    model.eval()
    batch, k = src.shape[0], beam_size
    device = src.device
    rows = torch.arange(batch, device=device).repeat_interleave(k)  # (B*K,) sentence of a row
    state = model.encode(src, src_len).select(rows)  # every beam starts from its sentence
    scores = torch.full((batch, k), NEG_INF, device=device)  # (B, K) log p of alive hyps
    scores[:, 0] = 0.0  # one empty hypothesis per sentence to start with
    history = torch.empty(batch, k, 0, dtype=torch.long, device=device)  # (B, K, t) tokens
    tokens = torch.full((batch * k,), BOS, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = torch.zeros(batch, dtype=torch.bool)
    for t in range(max_len + 1):
        log_probs, state = _step_log_probs(model, tokens, state, at_limit=t == max_len)
        vocab = log_probs.shape[-1]
        cand = (scores[:, :, None] + log_probs.view(batch, k, vocab)).view(batch, k * vocab)
        # at most K <eos> candidates can rank above the K-th non-<eos> one: 2K suffice
        top_scores, top_flat = cand.topk(min(2 * k, k * vocab), dim=-1)  # (B, 2K)
        parent, token = top_flat // vocab, top_flat % vocab  # (B, 2K)
        valid = top_scores > NEG_INF
        is_eos = (token == EOS) & valid
        non_eos = ~(token == EOS) & valid
        before = non_eos.long().cumsum(-1)  # non-<eos> candidates up to here
        take_eos = is_eos & (before < k)  # ranked above the K-th alive candidate
        for b, j in take_eos.nonzero().tolist():
            if not done[b]:
                finished[b].append(Hypothesis(history[b, parent[b, j]].tolist(),
                                              top_scores[b, j].item()))
        keep = non_eos & (before <= k)  # the new beam: the first K non-<eos> candidates
        slot = torch.where(keep, before - 1, k)  # where each kept candidate goes (k = drop)
        new_scores = torch.full((batch, k + 1), NEG_INF, device=device)
        new_parent = torch.zeros(batch, k + 1, dtype=torch.long, device=device)
        new_token = torch.full((batch, k + 1), PAD, dtype=torch.long, device=device)
        new_scores.scatter_(1, slot, torch.where(keep, top_scores, NEG_INF))
        new_parent.scatter_(1, slot, parent)
        new_token.scatter_(1, slot, token)
        scores, parent, token = new_scores[:, :k], new_parent[:, :k], new_token[:, :k]
        for b in range(batch):  # alive hypotheses now have t + 1 tokens (+ <eos> if they end)
            if not done[b]:
                ranking = [normalised(s, t + 2, length_penalty, alpha)
                           for s in scores[b].tolist() if s > NEG_INF]
                done[b] = _done(finished[b], ranking, n_best, length_penalty, alpha)
        if done.all():
            break
        scores = scores.masked_fill(done[:, None].to(device), NEG_INF)
        history = torch.cat([history.gather(1, parent[:, :, None].expand(-1, -1, t)),
                             token[:, :, None]], dim=2)  # (B, K, t + 1)
        flat_parent = (torch.arange(batch, device=device)[:, None] * k + parent).view(-1)
        state = state.select(flat_parent)
        tokens = token.reshape(-1)
    return [_rank(f, length_penalty, alpha)[:n_best] for f in finished]
