# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/main/chapters/05_beam_search.ipynb)
#
# # 5. Beam search
#
# A trained model gives a probability to every possible output. Decoding is a *search* for a
# likely one. Greedy decoding (chapters 1–4) commits to the best token at every step and never
# looks back. This chapter shows, on a hand-made table and then on chapter 4's trained model,
# what that misses, and builds the standard remedy: beam search.
#
# **In this chapter you will learn**
# 1. why the locally best token does not give the most likely sentence, worked by hand;
# 2. exhaustive search — exact and hopeless beyond toys — and beam search in between;
# 3. the short-output bias of likelihood and the length penalties that correct it;
# 4. a batched beam search, and what beam size does to BLEU, output length and speed;
# 5. n-best lists (`Hypothesis(value, score)`).
#
# *Sentences: Tatoeba (tatoeba.org) via manythings.org/anki, CC-BY 2.0 France.*

# %%
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q",
         "s2s-course @ git+https://github.com/s2s-course/seq2seq"],
        check=True,
    )

# %%
import math
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch

import s2s

profile, device = s2s.setup()

# %% [markdown]
# ## 5.1 Greedy is not the most likely, by hand
#
# A toy "model" over the tokens A, B, C and `<eos>` whose next-token probabilities we write in
# a table (d2l's example): after `<bos>`, A has 0.5; after A, B has 0.4 and C 0.3; and so on.
# We make it a real `Decoder`, so that the library's searches can run on it. Its state is just
# the prefix written so far.

# %%
# NBVAL_CHECK_OUTPUT
from s2s.data import BOS, EOS
from s2s.models import Decoder, Encoder, EncoderDecoder

A, B, C = 4, 5, 6
NAMES = {A: "A", B: "B", C: "C", EOS: "<eos>"}
TABLE = {  # prefix -> P(A), P(B), P(C), P(<eos>)
    (): (0.5, 0.2, 0.2, 0.1),
    (A,): (0.1, 0.4, 0.3, 0.2),
    (A, B): (0.2, 0.2, 0.4, 0.2),
    (A, B, C): (0.1, 0.1, 0.2, 0.6),
    (A, C): (0.1, 0.6, 0.2, 0.1),
    (A, C, B): (0.1, 0.2, 0.1, 0.6),
}
OTHER = (0.25, 0.25, 0.25, 0.25)  # any prefix not in the table


class PrefixState(NamedTuple):
    prefix: torch.Tensor  # (B, t)

    def select(self, index):
        return PrefixState(self.prefix.index_select(0, index))


class TableDecoder(Decoder):
    def init_state(self, enc_outputs, src_len):
        return PrefixState(torch.zeros(len(src_len), 0, dtype=torch.long))

    def step(self, token, state):
        prefix = state.prefix
        if token[0] != BOS:  # after the first step, the previous output joins the prefix
            prefix = torch.cat([prefix, token[:, None]], dim=1)
        logits = torch.full((len(token), 7), float("-inf"))
        for row, p in enumerate(prefix.tolist()):
            probs = TABLE.get(tuple(p), OTHER)
            logits[row, [A, B, C, EOS]] = torch.tensor(probs).log()
        return logits, PrefixState(prefix)


class NoEncoder(Encoder):
    def forward(self, src, src_len):
        return src, None


table_model = EncoderDecoder(NoEncoder(), TableDecoder())
one = (torch.zeros(1, 1, dtype=torch.long), torch.tensor([1]))  # a dummy source


def table_prob(value: list[int]) -> float:
    """P(value <eos>) read off the table, step by step."""
    p = 1.0
    for t, token in enumerate(value + [EOS]):
        p *= TABLE.get(tuple(value[:t]), OTHER)[[A, B, C, EOS].index(token)]
    return p


def show(value, score):
    return f"{' '.join(NAMES[t] for t in value + [EOS]):22} p = {math.exp(score):.3f}"


print(f"P(A B C <eos>) = {table_prob([A, B, C]):.3f}")
print(f"P(A C B <eos>) = {table_prob([A, C, B]):.3f}")

# %% [markdown]
# Greedy takes A (0.5), then B (0.4 beats C's 0.3), then C, then `<eos>`: probability 0.048.
# But taking C at step 2 — locally worse — leads to B with 0.6 and a sentence of probability
# 0.054. The library's `greedy` finds the first; `exhaustive_search` scores **every** output of
# at most 3 tokens and lists the best ones:

# %%
# NBVAL_CHECK_OUTPUT
from s2s.decoding import exhaustive_search, greedy

greedy_value = greedy(table_model, *one, max_len=3)[0]
print("greedy:    ", show(greedy_value, math.log(table_prob(greedy_value))))
for h in exhaustive_search(table_model, *one, max_len=3, n_best=4):
    print("exhaustive:", show(h.value, h.score))

# %% [markdown]
# Surprise: the most likely outputs are **the empty sentence** (`<eos>` straight away, 0.1) and
# "A" (0.5 × 0.2). Every extra token multiplies in one more probability below 1, so likelihood
# prefers short outputs. A *length penalty* ranks by a normalised score instead: the average
# log-probability per token (`"average"`), or Google's NMT penalty
# $\log p / ((5 + |y|)/6)^\alpha$ (`"gnmt"`, here with the usual $\alpha = 0.6$).

# %%
# NBVAL_CHECK_OUTPUT
for penalty in ["average", "gnmt"]:
    best = exhaustive_search(table_model, *one, max_len=3, n_best=1, length_penalty=penalty)[0]
    print(f"exhaustive, {penalty:8}", show(best.value, best.score))

# %% [markdown]
# The average prefers A C B; GNMT at $\alpha = 0.6$ corrects less and still prefers the
# two-token "A `<eos>`" — how much to favour length is a knob ($\alpha = 1$ is close to the
# average), which §5.5 turns on real data.
#
# ## 5.2 Beam search
#
# Exhaustive search scores $\sum_{n \le L} V^n$ outputs: 40 here, but with chapter 4's
# vocabulary and 12 tokens it is a number with about fifty digits. **Beam search** keeps only
# the $k$ best partial outputs (the *beam*): at each step it extends each by every token, walks
# the extensions from best to worst, sets aside those that end in `<eos>` as finished, and keeps
# the first $k$ others. With $k = 1$ it is greedy; with $k$ as large as the search space it is
# exhaustive search. Here it is, written for one sentence:

# %%
import torch.nn.functional as F

from s2s.decoding import Hypothesis, never_generate


def my_beam_search(model, src, src_len, k: int, max_len: int) -> list[Hypothesis]:
    state = model.encode(src, src_len)
    alive, finished = [Hypothesis([], 0.0)], []
    for t in range(max_len + 1):
        tokens = torch.tensor([h.value[-1] if h.value else BOS for h in alive])
        logits, state = model.decoder.step(tokens, state)
        log_p = never_generate(F.log_softmax(logits, dim=-1))  # (len(alive), V)
        if t == max_len:  # out of room: only <eos> may follow
            log_p = torch.full_like(log_p, float("-inf")).index_copy(
                1, torch.tensor([EOS]), log_p[:, [EOS]])
        scores = torch.tensor([h.score for h in alive])[:, None] + log_p
        new_alive, parents = [], []
        for flat in scores.view(-1).argsort(descending=True).tolist():
            parent, token = divmod(flat, log_p.shape[1])
            score = scores[parent, token].item()
            if score == float("-inf") or len(new_alive) == k:
                break
            if token == EOS:
                finished.append(Hypothesis(alive[parent].value, score))
            else:
                new_alive.append(Hypothesis(alive[parent].value + [token], score))
                parents.append(parent)
        if not new_alive:
            break
        alive, state = new_alive, state.select(torch.tensor(parents))
    return sorted(finished, key=lambda h: -h.score / (len(h.value) + 1))


for k in (1, 2, 3):
    best = my_beam_search(table_model, *one, k=k, max_len=3)[0]
    print(f"beam {k}: {show(best.value, best.score)}")

# %% [markdown]
# (Our version ranks finished hypotheses by average log-probability and never stops early.)
# The library's `beam_search` is the same walk, plus two things: it stops as soon as no
# unfinished hypothesis can still beat the n best finished ones, and it takes the ranking rule
# as `length_penalty`. The tests check it against `exhaustive_search` on random tiny models,
# against `greedy` at beam 1, and that every score is the model's own log-probability.

# %%
from s2s.decoding import beam_search

ours = my_beam_search(table_model, *one, k=2, max_len=3)[0]
library = beam_search(table_model, *one, 2, 3, length_penalty="average")[0]
s2s.check(ours.value == library.value and abs(ours.score - library.score) < 1e-9,
          "our beam search and s2s.decoding.beam_search agree")

# %% [markdown]
# ## 5.3 On a trained model
#
# Chapter 4's best model (trained once and cached; trained here if chapter 4 has not run with
# this code and profile). Per-sentence beam search runs the decoder on at most $k$ rows per
# step. `batched_beam_search` flattens *sentences × beams* into one batch of $B k$ rows, keeps
# finished hypotheses aside per sentence, and returns the same hypotheses.

# %%
from s2s.data import _pad, load_translation
from s2s.decoding import batched_beam_search
from s2s.train import attention_model

data = load_translation("fra-eng", max_len=profile.max_len, max_pairs=profile.max_pairs,
                        min_freq=profile.min_freq)
model, _ = attention_model(profile, data, device)
groups = data.references("test")[:4]
rows = [model.src_vocab.encode(src) + [EOS] for src, _ in groups]
src, src_len = _pad(rows).to(device), torch.tensor([len(r) for r in rows])
batched = batched_beam_search(model, src, src_len, beam_size=5, max_len=30, n_best=3)
for b, (source, refs) in enumerate(groups):
    single = beam_search(model, src[b:b + 1, :src_len[b]], src_len[b:b + 1], 5, 30, n_best=3)
    assert [h.value for h in single] == [h.value for h in batched[b]]
    print(" ".join(source))
    for h in batched[b]:
        print(f"   {h.score:7.2f}  {' '.join(model.tgt_vocab.decode(h.value))}")
    print("   reference:", " ".join(refs[0]))

# %% [markdown]
# Those are **n-best lists**: the 3 best outputs of a beam of 5, with their log-probabilities.
# They often differ in one word or in punctuation — beam search's well-known lack of diversity.
#
# ## 5.4 Beam size: quality, length, speed
#
# Held-out BLEU, mean output length and sentences per second for each beam size of the profile,
# with the GNMT length penalty ($\alpha = 0.6$); beam 1 is greedy.

# %%
import time

from s2s.metrics import judge

sweep = []
for k in profile.beam_sizes:
    start = time.perf_counter()
    j = judge(model, data, max_sentences=profile.eval_sentences, beam_size=k,
              length_penalty="gnmt")
    seconds = time.perf_counter() - start
    length = sum(len(h.split()) for h in j.hypotheses) / len(j.hypotheses)
    sweep.append((k, j.bleu.score, length, len(j.hypotheses) / seconds))
    print(f"beam {k:2}: BLEU {j.bleu.score:5.2f}  mean length {length:5.2f} words  "
          f"{len(j.hypotheses) / seconds:7.1f} sentences/s")
greedy_judged = judge(model, data, max_sentences=profile.eval_sentences)
print(f"greedy : BLEU {greedy_judged.bleu.score:5.2f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
for ax, column, label in zip(axes, [1, 2, 3], ["BLEU", "mean output length (words)",
                                                 "sentences / s"], strict=True):
    ax.plot([s[0] for s in sweep], [s[column] for s in sweep], "o-")
    ax.set(xlabel="beam size", ylabel=label)
axes[2].set_yscale("log")
fig.suptitle("Batched beam search, GNMT length penalty (alpha 0.6), held-out sentences")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5.5 The short-output bias on real data
#
# Beam 5 without a length penalty, with the average, and with GNMT:

# %%
penalties = {}
for penalty in [None, "average", "gnmt"]:
    j = judge(model, data, max_sentences=profile.eval_sentences, beam_size=5,
              length_penalty=penalty)
    ratio = j.bleu.details.sys_len / j.bleu.details.ref_len
    penalties[penalty] = j.bleu.score
    print(f"length penalty {penalty!s:8}: BLEU {j.bleu.score:5.2f}, "
          f"output/reference length {ratio:.3f}")
beam5 = penalties["gnmt"]
print(f"beam 5 (gnmt) vs greedy: {beam5:.2f} vs {greedy_judged.bleu.score:.2f} BLEU "
      f"({beam5 - greedy_judged.bleu.score:+.2f})")

# %% [markdown]
# Without a penalty, a wider search finds *more likely* outputs, which are often *shorter*
# ones — the table's empty sentence on a small scale — and the output/reference length ratio
# drops; both penalties pull it back up. Whether beam search beats greedy decoding in BLEU
# depends on how well trained the model is: a model that is still unsure spreads probability
# over many outputs, and searching harder among them helps less than one expects; the
# difference above is measured, not assumed.
#
# ## 5.6 Batched vs per-sentence speed
#
# `python benchmarks/decode_throughput.py` times greedy, per-sentence beam search and batched
# beam search on the same model and 64 held-out sentences at beam 5 (one run on this course's
# 2-core CI machine; rerun it on yours):
#
# | method (chapter 4's model, 64 held-out sentences) | sentences/s |
# |---|---|
# | greedy | 672.9 |
# | beam 5, per sentence (`beam_search`) | 25.1 |
# | beam 5, batched (`batched_beam_search`) | 201.4 |
# | **batched / per sentence** | **8.0×** |
#
# A run a minute earlier on the same machine measured 447.7 / 17.7 / 116.0 sentences/s, 6.5×:
# timings on a shared machine vary this much, so compare runs, not single figures. Both beam
# searches returned the same hypotheses. The per-sentence search runs the decoder on
# at most 5 rows per step, so most of its time goes to per-call overhead; the batched one runs
# 64 × 5 rows per call. On a CPU the output layer's arithmetic, which both must do, bounds the
# gain.
#
# ## Exercises
#
# **Exercise 1.** Write `gnmt(score, length, alpha)` — the GNMT normalised score — and check
# that with $\alpha = 0$ it ranks like raw log-probability and with $\alpha = 1$ it is
# proportional to the average.

# %%
def gnmt(score: float, length: int, alpha: float) -> float:
    ### BEGIN SOLUTION
    return score / ((5 + length) / 6) ** alpha
    ### END SOLUTION


# %%
from s2s.decoding import normalised

assert gnmt(-3.0, 4, 0.0) == -3.0
assert abs(gnmt(-3.0, 4, 0.6) - normalised(-3.0, 4, "gnmt", 0.6)) < 1e-12
### BEGIN HIDDEN TESTS
assert abs(gnmt(-2.0, 7, 1.0) - (-2.0 * 6 / 12)) < 1e-12
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** How many hypotheses does beam search score? With vocabulary $V$, beam $k$ and
# $L$ steps it extends at most $k$ hypotheses by $V$ tokens per step. Write
# `beam_work(V, k, L)` (an upper bound: $k V$ per step, but only $V$ at the first step) and
# compare it with `count_outputs(V, L)` for the table above and for chapter 4's model.

# %%
from s2s.decoding import count_outputs


def beam_work(vocab: int, k: int, steps: int) -> int:
    ### BEGIN SOLUTION
    return vocab + (steps - 1) * k * vocab
    ### END SOLUTION


print(beam_work(7, 2, 4), "vs", count_outputs(7, 3), "for the table;",
      f"{beam_work(len(data.tgt_vocab), 5, 13):,} vs about 10^"
      f"{int(math.log10(len(data.tgt_vocab) - 3) * 12)} for chapter 4's model")

# %%
assert beam_work(7, 1, 4) == 28
### BEGIN HIDDEN TESTS
assert beam_work(10, 5, 3) == 10 + 2 * 50
### END HIDDEN TESTS
