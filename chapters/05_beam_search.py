# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/v0.1.0/chapters/05_beam_search.ipynb)
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
# 2. exhaustive search — exact and hopeless beyond toys — and beam search in between, drawn
#    as the tree of candidates it keeps and prunes;
# 3. why likelihood favours short outputs, the length penalties that counter it, and how to
#    measure on held-out sentences whether a given model shows the bias and whether a penalty
#    helps it;
# 4. a batched beam search with n-best lists (`Hypothesis(value, score)`), what beam size
#    does to BLEU, output length and speed, and a paired significance test (bootstrap
#    resampling, by hand and with sacrebleu) that says whether two searches differ on the
#    same sentences by more than luck.
#
# **Prerequisites**: chapter 1 (the `Encoder` / `Decoder` / `EncoderDecoder` interface and
# `Decoder.step`), chapter 3 (greedy decoding, corpus BLEU with sacrebleu) and chapter 4 (the
# attention model this chapter decodes with; if chapter 4 has not cached it for this profile,
# this chapter trains it first). On the PyTorch side: `log_softmax`, `argsort`, `index_select`.
#
# *Sentences: Tatoeba (tatoeba.org) via manythings.org/anki, CC-BY 2.0 France.*
#
# **Exercises and their solutions.** The solutions (for the open experiments, what a full answer
# contains) are in this notebook, under each exercise
# at the end; to work the exercises without seeing them, open the student version
# instead: `make release` writes it to `release/05_beam_search.ipynb` (see `homework/README.md`).

# %%
import os
import subprocess
import sys

if "google.colab" in sys.modules:  # the course at its release; Colab's torch is kept
    from importlib.metadata import version

    course = os.path.expanduser("~/s2s-course")
    if not os.path.isdir(course):  # the repository at the release: package and results
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "v0.1.0",
                        "https://github.com/s2s-course/seq2seq", course], check=True)
    with open("/tmp/keep-torch.txt", "w") as f:  # a pip constraint: torch stays as it is
        f.write(f"torch=={version('torch')}\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", "/tmp/keep-torch.txt",
                    course], check=True)
    os.chdir(os.path.join(course, "chapters"))  # cite() finds results/ from here
    print(f"installed s2s-course {version('s2s-course')} (v0.1.0), "
          f"torch {version('torch')} kept")

# %%
import math
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch

import s2s
from s2s.precision import describe

profile, device = s2s.setup()
print(describe(profile.precision, device))  # what training runs in (chapter 3, §3.12)

# %% [markdown]
# ## 5.1 Greedy is not the most likely, by hand
#
# A toy "model" over the tokens A, B, C and `<eos>` whose next-token probabilities we write in
# a table (d2l's example): after `<bos>`, A has 0.5; after A, B has 0.4 and C 0.3; and so on.
# A prefix the table does not list gets the uniform 0.25 for each token. Here is the table,
# one row per prefix:

# %%
# NBVAL_CHECK_OUTPUT
from s2s.vocab import BOS, EOS

A, B, C = 4, 5, 6  # token ids; 0-3 are <pad>, <unk>, <bos>, <eos> in every vocabulary
NAMES = {A: "A", B: "B", C: "C", EOS: "<eos>"}
TABLE = {  # prefix -> P(A), P(B), P(C), P(<eos>) of the next token
    (): (0.5, 0.2, 0.2, 0.1),
    (A,): (0.1, 0.4, 0.3, 0.2),
    (A, B): (0.2, 0.2, 0.4, 0.2),
    (A, B, C): (0.1, 0.1, 0.2, 0.6),
    (A, C): (0.1, 0.6, 0.2, 0.1),
    (A, C, B): (0.1, 0.2, 0.1, 0.6),
}
OTHER = (0.25, 0.25, 0.25, 0.25)  # any prefix not in the table
print("after            A    B    C    <eos>")
for prefix, probs in TABLE.items():
    print(f"<bos> {' '.join(NAMES[t] for t in prefix):8}", *(f"{p:4.1f}" for p in probs))

# %% [markdown]
# So that the library's searches can run on it, the table becomes a real `Decoder` with
# chapter 1's interface. Its state is the prefix written so far, one row per hypothesis.
# A search reorders and copies hypotheses as it goes; it does so through the state's
# `select(index)`, which here picks rows of the prefix tensor. The encoder has nothing to
# encode: it passes its input through.

# %%
from s2s.models import Decoder, Encoder, EncoderDecoder


class PrefixState(NamedTuple):
    prefix: torch.Tensor  # (N, t): the tokens each of N hypotheses has written so far

    def select(self, index):  # index: (N',) the rows to keep, in order, repeats allowed
        return PrefixState(self.prefix.index_select(0, index))


class NoEncoder(Encoder):
    def forward(self, src, src_len):
        return src, None


# %% [markdown]
# The decoder's `step` receives the previous output token of each hypothesis (`<bos>` at the
# first step), appends it to the prefix, and looks the prefix up in its table. It returns
# logits over all 7 ids: the log of the table's probabilities for A, B, C and `<eos>`, and
# $-\infty$ (probability 0) for `<pad>`, `<unk>` and `<bos>`, which it never writes. The
# table is an argument, so that we can build a second toy model from another table later.

# %%
class TableDecoder(Decoder):
    def __init__(self, table):
        super().__init__()
        self.table = table  # prefix -> (P(A), P(B), P(C), P(<eos>))

    def init_state(self, enc_outputs, src_len):
        return PrefixState(torch.zeros(len(src_len), 0, dtype=torch.long))  # (N, 0)

    def step(self, token, state):  # token: (N,) the previous output of each hypothesis
        prefix = state.prefix
        if token[0] != BOS:  # after the first step, the previous output joins the prefix
            prefix = torch.cat([prefix, token[:, None]], dim=1)  # (N, t + 1)
        logits = torch.full((len(token), 7), float("-inf"))  # (N, V = 7 ids)
        for row, p in enumerate(prefix.tolist()):
            probs = self.table.get(tuple(p), OTHER)
            logits[row, [A, B, C, EOS]] = torch.tensor(probs).log()
        return logits, PrefixState(prefix)


# %% [markdown]
# One step of the assembled model, from `<bos>`: the logits have one row per hypothesis and
# one column per id, and their softmax gives back the table's first row (ids 4–6 are A, B, C;
# id 3 is `<eos>`). The source is a dummy: one sentence of one token.

# %%
# NBVAL_CHECK_OUTPUT
table_model = EncoderDecoder(NoEncoder(), TableDecoder(TABLE))
one = (torch.zeros(1, 1, dtype=torch.long), torch.tensor([1]))  # src (1, 1), src_len (1,)
logits, _ = table_model.decoder.step(torch.tensor([BOS]), table_model.encode(*one))
print("logits", tuple(logits.shape), "-> P(next id) after <bos>:",
      logits.softmax(-1)[0].numpy().round(2))

# %% [markdown]
# The probability of a whole output is the product of its next-token probabilities, `<eos>`
# included. `table_prob` reads it off a table step by step; `show` prints an output with its
# probability (searches report log-probabilities, so `show` takes the exponential).

# %%
# NBVAL_CHECK_OUTPUT
def table_prob(value: list[int], table=TABLE) -> float:
    """P(value <eos>) read off a table, step by step."""
    p = 1.0
    for t, token in enumerate(value + [EOS]):
        p *= table.get(tuple(value[:t]), OTHER)[[A, B, C, EOS].index(token)]
    return p


def show(value: list[int], score: float) -> str:
    return f"{' '.join(NAMES[t] for t in value + [EOS]):14} p = {math.exp(score):.3f}"


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
# prefers short outputs. A *length penalty* ranks outputs by a normalised score instead: the
# average log-probability per token, $\log p / |y|$ (`"average"`; $|y|$ counts the `<eos>`), or
# Google's NMT penalty $\log p \,/\, ((5 + |y|)/6)^\alpha$ (`"gnmt"`, Wu et al. 2016), here with
# $\alpha = 0.6$, the library's default, and with $\alpha = 1$:

# %%
# NBVAL_CHECK_OUTPUT
for penalty, alpha in [("average", 0.6), ("gnmt", 0.6), ("gnmt", 1.0)]:
    best = exhaustive_search(table_model, *one, max_len=3, n_best=1, length_penalty=penalty,
                             alpha=alpha)[0]
    name = penalty if penalty == "average" else f"gnmt, alpha = {alpha}"
    print(f"exhaustive, {name:17}", show(best.value, best.score))

# %% [markdown]
# The average prefers A C B. GNMT at $\alpha = 0.6$ normalises less and still prefers the
# two-token "A `<eos>`"; at $\alpha = 1$ it picks A C B, like the average. But GNMT with
# $\alpha = 1$ is **not** the average, nor proportional to it: it divides $\log p$ by
# $(5 + |y|)/6$, which is 1 for a one-token output and only 1.5 at four tokens, where the
# average divides by 4. The two can rank the same pair of outputs in opposite orders — here a
# one-token output with $\log p = -1$ against a four-token one (`<eos>` included) with
# $\log p = -3$:

# %%
# NBVAL_CHECK_OUTPUT
from s2s.decoding import normalised

short, long = (-1.0, 1), (-3.0, 4)  # (log p, |y| with the <eos>)
for penalty, alpha in [("average", 0.6), ("gnmt", 1.0)]:
    s, lo = normalised(*short, penalty, alpha), normalised(*long, penalty, alpha)
    print(f"{penalty:7} (alpha = {alpha}): short {s:6.3f}, long {lo:6.3f}"
          f" -> prefers the {'short' if s > lo else 'long'} one")

# %% [markdown]
# (`normalised` ignores `alpha` for the average.) How much to favour length is a knob, and the
# table only shows that the knob matters. Whether the short-output bias shows up on a trained
# model, and whether a penalty helps it, is a question for held-out data: §5.5 measures it.
#
# ## 5.2 Beam search
#
# Exhaustive search scores every output: with the table's three tokens and at most 3 of them
# before `<eos>`, that is $1 + 3 + 9 + 27$ outputs. The cell counts what `exhaustive_search`
# actually scored (§5.3 prints the count for chapter 4's vocabulary — a number with dozens of
# digits).

# %%
# NBVAL_CHECK_OUTPUT
n_table_outputs = len(exhaustive_search(table_model, *one, max_len=3, n_best=10**6))
s2s.check(n_table_outputs == 1 + 3 + 9 + 27,
          f"exhaustive search scored all {n_table_outputs} outputs of at most 3 tokens")

# %% [markdown]
# **Beam search** keeps only the $k$ best partial outputs (the *beam*): at each step it
# extends each by every token, walks the extensions from best to worst, sets aside those that
# end in `<eos>` as finished, keeps the first $k$ others, and prunes the rest. We write it for
# one sentence, in three pieces.
#
# First, one decoder step for all alive hypotheses: the last token of each (`<bos>` at the
# start) goes in, the log-probabilities of the next token come out, one row per hypothesis.
# `<pad>` and `<bos>` are made impossible, and once a hypothesis has `max_len` tokens only
# `<eos>` may follow, so every output ends.

# %%
import torch.nn.functional as F

from s2s.decoding import Hypothesis, never_generate


def next_log_probs(model, alive: list[Hypothesis], state, at_limit: bool):
    """log P(next token) of each alive hypothesis, (len(alive), V), and the new state."""
    tokens = torch.tensor([h.value[-1] if h.value else BOS for h in alive])  # (N,)
    logits, state = model.decoder.step(tokens, state)  # (N, V)
    log_p = never_generate(F.log_softmax(logits, dim=-1))  # <pad>, <bos>: -inf
    if at_limit:  # max_len tokens written: only <eos> may follow
        only_eos = torch.full_like(log_p, float("-inf"))
        only_eos[:, EOS] = log_p[:, EOS]
        log_p = only_eos
    return log_p, state


# %% [markdown]
# Second, the walk — the heart of beam search. A candidate is an alive hypothesis extended by
# one token; its score is the hypothesis's log-probability plus the token's. The walk goes
# through the candidates from best to worst and gives each a status: **finished** (it ends in
# `<eos>` and ranks above the $k$-th kept candidate), **kept** (one of the first $k$ that do
# not end) or **pruned** (everything after the beam is full, `<eos>` candidates included). It
# returns that record too; the tree diagram below is drawn from it. `stable=True` breaks ties
# (after `<bos>`, B and C both have 0.2) by token id, so every run walks in the same order.

# %%
def walk(alive: list[Hypothesis], log_p: torch.Tensor, k: int):
    """One step: the candidates, best first, each finished, kept (first k) or pruned."""
    scores = torch.tensor([h.score for h in alive])[:, None] + log_p  # (N, V)
    kept, parents, finished, record = [], [], [], []
    for flat in scores.view(-1).argsort(descending=True, stable=True).tolist():
        parent, token = divmod(flat, log_p.shape[1])
        score = scores[parent, token].item()
        if score == float("-inf"):
            break  # an impossible token, and so are all the rest
        if len(kept) == k:
            status = "pruned"  # the beam is full: everything below it goes
        elif token == EOS:
            status = "finished"
            finished.append(Hypothesis(alive[parent].value, score))
        else:
            status = "kept"
            kept.append(Hypothesis(alive[parent].value + [token], score))
            parents.append(parent)
        record.append((alive[parent].value + [token], score, status))
    return kept, parents, finished, record


# %% [markdown]
# Third, the loop: step, walk, set the finished hypotheses aside, and make the decoder states
# follow the kept hypotheses — a kept hypothesis continues from its parent's state, which
# `state.select(parents)` copies into place. It stops when nothing is alive. Our version
# returns the finished hypotheses ranked by **average log-probability per token** (`<eos>`
# counted) and never stops early; `trace`, when given, collects each step's record.

# %%
def my_beam_search(model, src, src_len, k: int, max_len: int, trace=None) -> list[Hypothesis]:
    """Beam search for one sentence (src: (1, S)); finished outputs, best average first."""
    state = model.encode(src, src_len)
    alive, finished = [Hypothesis([], 0.0)], []
    for t in range(max_len + 1):
        log_p, state = next_log_probs(model, alive, state, at_limit=t == max_len)
        alive, parents, done, record = walk(alive, log_p, k)
        finished += done
        if trace is not None:
            trace.append(record)
        if not alive:
            break
        state = state.select(torch.tensor(parents))  # each kept hypothesis: its parent's state
    return sorted(finished, key=lambda h: -h.score / (len(h.value) + 1))


# %% [markdown]
# Beam sizes 1, 2 and 3 on the table:

# %%
# NBVAL_CHECK_OUTPUT
for k in (1, 2, 3):
    best = my_beam_search(table_model, *one, k=k, max_len=3)[0]
    print(f"beam {k}: {show(best.value, best.score)}")

# %% [markdown]
# A beam of 2 already finds A C B, the output greedy missed; beam 1 returns greedy's A B C.
#
# **Is `my_beam_search` with $k = 1$ greedy?** Not always. With $k = 1$ the walk keeps the
# single best candidate that does not end, and it finishes an `<eos>` candidate only when
# `<eos>` is the most likely candidate of the step — exactly where greedy would stop. Greedy
# stops there. `my_beam_search` sets that output aside, goes on with the best other token,
# and at the end returns the finished output with the best *average* log-probability, which
# may be a longer one. On the table, greedy's path never meets `<eos>` as the most likely
# token before `max_len`, so the two agree above. A second table, `EARLY`, whose most likely
# first token is `<eos>`, shows the difference — and that the library's `beam_search` with
# $k = 1$ and no length penalty does stop where greedy stops:

# %%
# NBVAL_CHECK_OUTPUT
from s2s.decoding import beam_search

EARLY = {  # <eos> is the most likely first token; after A, "A A A <eos>" is almost certain
    (): (0.3, 0.05, 0.05, 0.6),
    (A,): (0.97, 0.01, 0.01, 0.01),
    (A, A): (0.97, 0.01, 0.01, 0.01),
    (A, A, A): (0.01, 0.01, 0.01, 0.97),
}
early_model = EncoderDecoder(NoEncoder(), TableDecoder(EARLY))
runs = {"greedy": greedy(early_model, *one, max_len=3)[0],
        "my_beam_search, k = 1": my_beam_search(early_model, *one, k=1, max_len=3)[0].value,
        "beam_search, k = 1, no penalty": beam_search(early_model, *one, 1, 3)[0].value}
for name, value in runs.items():
    print(f"{name:31}", show(value, math.log(table_prob(value, EARLY))))
s2s.check(runs["beam_search, k = 1, no penalty"] == runs["greedy"]
          != runs["my_beam_search, k = 1"],
          "library beam 1 without a penalty = greedy; my_beam_search with k = 1 is not")

# %% [markdown]
# So `my_beam_search` with $k = 1$ is greedy with a second chance at `<eos>`: on greedy's
# path (through the best non-`<eos>` tokens), it can return a longer output when that
# output's average log-probability is higher. The library's `beam_search` differs from ours
# in two ways. It takes the ranking rule as `length_penalty` (`None`, `"average"` or
# `"gnmt"`). And it **stops early**: once `n_best` hypotheses are finished, it stops as soon
# as the best alive hypothesis, scored as if it ended now, does not beat the `n_best`-th
# finished one. Without a length penalty that stop is exact: a log-probability only falls as a
# hypothesis grows, so nothing alive could overtake later — which is why its beam 1 stops
# where greedy stops (`tests/test_search.py` checks beam 1 against greedy on random and
# trained models). With a length penalty the stop is a heuristic, as the library's docstring
# says: dividing by a longer length can *raise* a normalised score, so an alive hypothesis
# that ranks below the finished ones now may overtake them later. On `EARLY` that is what
# happens:

# %%
# NBVAL_CHECK_OUTPUT
def average(h: Hypothesis) -> float:
    return h.score / (len(h.value) + 1)


for k in (1, 2, 3):
    lib = beam_search(early_model, *one, k, 3, length_penalty="average")[0]
    ours = my_beam_search(early_model, *one, k=k, max_len=3)[0]
    print(f"k = {k}  library, average, early stop: {show(lib.value, lib.score)}"
          f" (average {average(lib):.3f})  |  ours, no early stop: {show(ours.value, ours.score)}"
          f" (average {average(ours):.3f})")
best = exhaustive_search(early_model, *one, max_len=3, length_penalty="average")[0]
print(f"exhaustive, average: {show(best.value, best.score)} (average {average(best):.3f})")

# %% [markdown]
# After the first step the empty output is finished with an average of $\log 0.6 / 1$, and
# the best alive hypothesis, A, scored as if it ended now, has $\log 0.3 / 2$, which is lower:
# the library stops, whatever $k$. Yet A A A `<eos>` has a higher average than the empty
# output (printed above); our search, which never stops early, finds it, and so does
# exhaustive search. On the original table, where the early stop does not bite, our search
# and the library's agree at $k = 2$ with the same ranking rule:

# %%
ours = my_beam_search(table_model, *one, k=2, max_len=3)[0]
library = beam_search(table_model, *one, 2, 3, length_penalty="average")[0]
agree = ours.value == library.value and abs(ours.score - library.score) < 1e-9
s2s.check(agree, "on TABLE, my_beam_search and s2s.decoding.beam_search agree at k = 2")

# %% [markdown]
# ### The tree beam search explores
#
# The record `walk` returns at each step is enough to draw the search. We run beam 2 on the
# table with a `trace`, turn each candidate into (its tokens, its probability, its status),
# and print what each step kept, finished and pruned:

# %%
# NBVAL_CHECK_OUTPUT
def words(value: list[int]) -> list[str]:
    return [NAMES[t] for t in value]


trace = []
returned = my_beam_search(table_model, *one, k=2, max_len=3, trace=trace)[0]
steps = [[(words(v), math.exp(s), status) for v, s, status in record] for record in trace]
for t, step in enumerate(steps, 1):
    kept, done = ([f"{' '.join(w)} {p:.3f}" for w, p, st in step if st == status]
                  for status in ("kept", "finished"))
    pruned = sum(st == "pruned" for _, _, st in step)
    print(f"step {t}: kept {kept}, finished {done}, pruned {pruned}")
print(f"beam search scored {sum(len(step) for step in steps)} candidates and finished "
      f"{sum(st == 'finished' for step in steps for _, _, st in step)} outputs; "
      f"exhaustive search finished all {n_table_outputs}")

# %% [markdown]
# `s2s.diagrams.beam.beam_tree` draws that record as a tree, one column per step: each box is
# a candidate with the probability of its tokens so far; orange boxes were kept in the beam,
# grey dashed ones were scored and pruned, green ones finished, and the red outline marks the
# output the search returned.

# %%
from s2s.diagrams.beam import beam_tree

fig = beam_tree(steps, best=words(returned.value + [EOS]),
                title="Beam search with k = 2 on the table: kept, pruned and finished")
plt.show()

# %% [markdown]
# Read it left to right. At step 1 the beam keeps A and B; C ties with B at 0.2 and loses the
# tie-break, and `<eos>` (0.1) ranks below the full beam, so it is pruned, not finished. At
# step 2 the beam keeps A B and A C — greedy would have kept only A B. At step 3, A C B
# overtakes A B C: the path greedy dropped at step 2 is now the best. No `<eos>` candidate
# ranked inside the beam before the last step; there, with `max_len` reached, only `<eos>` may
# follow, and both beams finish. The search scored about two dozen candidates (the count is
# printed above), a fraction of the work of exhaustive search, and still returned A C B.
#
# ## 5.3 On a trained model
#
# Chapter 4's best model (trained once and cached; trained here if chapter 4 has not run with
# this code and profile). We are choosing decoding settings in this chapter, so every
# measurement uses the **valid** split; the test split stays untouched for a final judgement.

# %%
from s2s.data import load_translation, source_batch
from s2s.decoding import batched_beam_search, count_outputs
from s2s.zoo import attention_model

data = load_translation("fra-eng", max_len=profile.max_len, max_pairs=profile.max_pairs,
                        min_freq=profile.min_freq)
model, _ = attention_model(profile, data, device)

# %% [markdown]
# How large is this model's search space? Even counting only outputs no longer than the
# longest training sentence ($L$ = `profile.max_len` tokens), exhaustive search would score
# `count_outputs(V, L)` of them — every one of the $V - 3$ ids other than `<pad>`, `<bos>`
# and `<eos>` at each position:

# %%
V, L = len(data.tgt_vocab), profile.max_len
space = count_outputs(V, L)
print(f"V = {V:,} target ids, L = {L}: {space:.2e} outputs, a {len(str(space))}-digit number")

# %% [markdown]
# Beam search instead scores at most $k V$ candidates per step. Per-sentence beam search runs
# the decoder on at most $k$ rows per step. `batched_beam_search` flattens *sentences × beams*
# into one batch of $B k$ rows, keeps finished hypotheses aside per sentence, and should return
# the same hypotheses; the cell checks that on four valid sentences, asking each for its 3 best
# outputs at beam 5.

# %%
groups = data.references("valid")[:4]
src, src_len = source_batch(model.src_vocab, [src for src, _ in groups], device)
batched = batched_beam_search(model, src, src_len, beam_size=5, max_len=30, n_best=3)
singles = [beam_search(model, src[b:b + 1, :src_len[b]], src_len[b:b + 1], 5, 30, n_best=3)
           for b in range(len(groups))]
per_sentence = [[h.value for h in s] == [h.value for h in bt]
                for s, bt in zip(singles, batched, strict=True)]
s2s.check(all(per_sentence), "batched_beam_search returns beam_search's 3 best, per sentence")

# %% [markdown]
# The outputs, with their log-probabilities, and one reference for each:

# %%
for (source, refs), hyps in zip(groups, batched, strict=True):
    print(" ".join(source))
    for h in hyps:
        print(f"   {h.score:7.2f}  {' '.join(model.tgt_vocab.decode(h.value))}")
    print("   reference:", " ".join(refs[0]))

# %% [markdown]
# Those are **n-best lists**: the 3 best outputs of a beam of 5. A known weakness of beam
# search is that its n-best lists lack diversity: the runners-up tend to be small variations
# of the best output. Four sentences cannot say how common that is, so we measure it on many.
# First the yardstick: `one_edit(a, b)` says whether a single token (a word or a punctuation
# mark) inserted, deleted or replaced turns one output into the other. On small lists of ids:

# %%
# NBVAL_CHECK_OUTPUT
def one_edit(a: list[int], b: list[int]) -> bool:
    """True when one token inserted, deleted or replaced turns a into b."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) >= len(b)):] == b[i + (len(b) >= len(a)):]


for a, b in [([4, 5, 6], [4, 6]), ([4, 5, 6], [4, 5, 6, 7]), ([4, 5, 6], [4, 7, 6]),
             ([4, 5, 6], [6, 5, 4]), ([4, 5, 6], [4, 5, 6])]:
    print(f"{a} -> {b}: one edit? {one_edit(a, b)}")

# %% [markdown]
# (Deleting 5, appending 7 and replacing 5 by 7 are single edits; reversing the list takes
# two, and an identical output is no variation at all.) Now the n-best lists of the valid
# sentences the rest of the chapter judges on — `profile.eval_sentences` of them, the whole
# split at the `gpu` profile — 3 best of a beam of 5 each, decoded by `batched_beam_search`
# 256 sentences at a time (sorted by length first, so that a batch pads little). The line
# counts the runners-up that are one-token variations of their sentence's best output.

# %%
valid_sources = sorted((src for src, _ in data.references("valid")[:profile.eval_sentences]),
                       key=len)
nbest = []
for start in range(0, len(valid_sources), 256):
    chunk_src, chunk_len = source_batch(model.src_vocab, valid_sources[start:start + 256], device)
    nbest += batched_beam_search(model, chunk_src, chunk_len, beam_size=5, max_len=30, n_best=3)
pairs = [(hyps[0].value, h.value) for hyps in nbest for h in hyps[1:]]
near = sum(one_edit(best, other) for best, other in pairs)
print(f"{len(nbest)} valid sentences, {len(pairs)} runners-up: {near} of them "
      f"({near / max(len(pairs), 1):.0%}) differ from their best output by one token -> "
      + ("most n-best entries are one-token variations of the best" if 2 * near > len(pairs)
         else "a minority: most runners-up differ from the best by more than one token"))

# %% [markdown]
# The share printed above is this model's: 48 % on these sentences, just under half, so by
# this yardstick most runners-up differ from their best output by more than one token — yet
# nearly half change a single one. Where the share is high, an n-best list offers little
# choice to whatever comes after the search (a reranker, or a person picking a translation):
# the runners-up share almost all of the best output's words, because they grew from the
# same few prefixes that stayed in the beam. Searches that trade some probability for
# diversity exist (diverse beam search, Vijayakumar et al. 2016); this course does not build
# one.
#
# ## 5.4 Beam size: quality, length, speed
#
# Valid-split BLEU, mean output length, length ratio and sentences per second for each beam
# size of the profile, with the GNMT length penalty ($\alpha = 0.6$), and greedy decoding for
# reference. The length ratio is sacrebleu's: the total length of the outputs over the total
# length of the (closest) references — the figure BLEU's brevity penalty uses; below 1, the
# outputs are shorter than the references. The rate is measured by `judge`, which also
# detokenises and scores, on whatever machine runs the notebook. The table is **one model,
# decoded once**: it has no spread over models, and by itself it cannot say whether a
# difference between two rows is more than the luck of which sentences were sampled. The end
# of this section tests that. Greedy decoding first, with the two length measures:

# %%
import time

from s2s.metrics import judge


def mean_words(j) -> float:
    return sum(len(h.split()) for h in j.hypotheses) / len(j.hypotheses)


def length_ratio(j) -> float:  # sacrebleu's output length / reference length
    return j.bleu.details.sys_len / j.bleu.details.ref_len


greedy_judged = judge(model, data, "valid", profile.eval_sentences)
print(f"greedy : BLEU {greedy_judged.bleu.score:5.2f}  mean length "
      f"{mean_words(greedy_judged):5.2f} words  length ratio {length_ratio(greedy_judged):.3f}")

# %% [markdown]
# Then each beam size, timed:

# %%
sweep, judged = [], {}
for k in profile.beam_sizes:
    start = time.perf_counter()
    j = judged[k] = judge(model, data, "valid", profile.eval_sentences, beam_size=k,
                          length_penalty="gnmt")
    rate = len(j.hypotheses) / (time.perf_counter() - start)
    sweep.append((k, j.bleu.score, mean_words(j), length_ratio(j), rate))
    print(f"beam {k:2}: BLEU {j.bleu.score:5.2f}  mean length {mean_words(j):5.2f} words  "
          f"length ratio {length_ratio(j):.3f}  {rate:7.1f} sentences/s")

# %% [markdown]
# The same numbers as four curves:

# %%
fig, axes = plt.subplots(1, 4, figsize=(15, 3))
for ax, column, label in zip(axes, [1, 2, 3, 4], ["BLEU", "mean output length (words)",
                                                    "output / reference length",
                                                    "sentences / s"], strict=True):
    ax.plot([s[0] for s in sweep], [s[column] for s in sweep], "o-")
    ax.set(xlabel="beam size", ylabel=label)
axes[2].axhline(1.0, color="grey", linestyle="--", linewidth=1)  # as long as the references
axes[3].set_yscale("log")
fig.suptitle("Batched beam search, GNMT length penalty (alpha 0.6), valid sentences, one model")
fig.tight_layout()
plt.show()

# %% [markdown]
# Is beam 1 in this sweep greedy? Only without a length penalty is it guaranteed to be, as
# §5.2 showed; with GNMT it may carry on past an `<eos>` that greedy stops at. The first line
# below counts how often that changed the output; the check then decodes the first sentences
# with beam 1 and no penalty, which must write exactly greedy's outputs. The last two lines
# read the second and third panels: does a wider beam write shorter outputs, and are they
# shorter than the references?

# %%
n = len(greedy_judged.hypotheses)
if 1 in judged:
    same = sum(a == b for a, b in zip(judged[1].hypotheses, greedy_judged.hypotheses,
                                      strict=True))
    print(f"beam 1 (gnmt) and greedy: identical outputs on {same} of {n} sentences")
first = greedy_judged.sources[:50]
s2s.check(s2s.translate(model, first, beam_size=1) == s2s.translate(model, first),
          f"beam 1 without a length penalty = greedy on the first {len(first)} sentences")
(k0, _, len0, ratio_k0, _), (k1, _, len1, ratio_k1, _) = sweep[0], sweep[-1]
lengths = [s[2] for s in sweep]
steady = all(b < a for a, b in zip(lengths, lengths[1:], strict=False))
print(f"mean output length from beam {k0} ({len0:.2f} words) to beam {k1} "
      f"({len1:.2f} words): " + ("falls at every step of the sweep" if steady
                                else "falls, though not at every step" if len1 < len0
                                else "does not fall"))
print(f"length ratio {ratio_k0:.3f} at beam {k0}, {ratio_k1:.3f} at beam {k1}: the widest "
      "beam's outputs are " + ("shorter than the references" if ratio_k1 < 1 else
                               "at least as long as the references"))

# %% [markdown]
# The first line says on how many sentences GNMT's beam 1 wrote greedy's output (all but one
# of the 2000 here); on the rest it carried on past an `<eos>` that greedy stopped at. The
# last two lines answer two different questions, and both matter for §5.5. The first is
# about a **trend**: when the mean length falls as the beam widens, the wider search is
# finding outputs of higher probability that are also shorter — the pull towards short
# outputs of §5.1, which GNMT's correction at $\alpha = 0.6$ softens without removing. The
# second is about a **level**: whether the outputs are shorter than the references, which is
# what BLEU's brevity penalty punishes. A length that falls while the ratio stays at or above
# 1 is a search shortening outputs that were longer than the references to begin with: the
# pull is there, but it has not made the outputs too short. A ratio below 1 is the
# short-output bias that costs BLEU. This run shows the pull without the bias: the mean
# length falls at every step of the sweep (5.89 words at beam 1, 5.62 at beam 10) while the
# ratio stays above 1 (1.067, then 1.022), in this one decoding of one model. §5.5 asks the
# second question at beam 5 without any penalty, where the outputs are at their shortest of
# the three ranking rules (its check tests that). The cost of a wide beam is in the last
# panel and the table's last column: every extra beam adds decoder rows to every step.
#
# ### One model, one sample of sentences: is the gain more than luck?
#
# Where beam search and greedy decoding write different outputs, their BLEU differs. Is a
# difference in the table a property of the two searches, or of the particular sentences in
# the sample? Nothing else here is random: the model is fixed and both searches are
# deterministic. The only luck is which valid sentences we happened to judge on — and that
# luck is **shared**: a sentence that is hard for greedy decoding is usually hard for beam
# search too. So the question is about the *difference on the same sentences*, and the test
# for it is a **paired** test. *Paired bootstrap resampling* (Koehn 2004) imitates drawing
# another sample of sentences: draw $N$ sentence indices with replacement from the $N$ judged,
# score **both** systems on that same draw, and repeat a thousand times. If the winner on the
# real sample stays ahead on almost every draw, its lead is unlikely to be the luck of the
# sample.
#
# We compare greedy decoding with beam 5 **without** a length penalty, the control of the
# committed experiment at the end of this section. Corpus BLEU is not an average of sentence
# scores, so a draw cannot reuse sentence BLEUs; but it is computed from corpus totals —
# n-gram matches and n-gram counts for $n = 1 \ldots 4$, output length and reference length —
# and those are sums over sentences. The cell takes each sentence's ten numbers from sacrebleu
# once, and checks that their sums give sacrebleu's corpus BLEU of both systems.

# %%
import numpy as np
from sacrebleu.metrics import BLEU

beam5_judged = judge(model, data, "valid", profile.eval_sentences, beam_size=5)  # no penalty
references = greedy_judged.references  # the same sentences, in the same order, for both
sentence_bleu = BLEU(effective_order=True)  # used for its raw per-sentence counts only


def sentence_stats(hypotheses: list[str]) -> np.ndarray:
    """(N, 10): per sentence, n-gram matches and counts (n = 1-4), output and reference length."""
    scored = [sentence_bleu.sentence_score(h, refs) for h, refs in zip(hypotheses, references,
                                                                       strict=True)]
    return np.array([[*s.counts, *s.totals, s.sys_len, s.ref_len] for s in scored])


def bleu_of(totals: np.ndarray) -> float:
    """Corpus BLEU from summed statistics (10,): sacrebleu's formula and its default smoothing."""
    return BLEU.compute_bleu(totals[:4], totals[4:8], totals[8], totals[9],
                             smooth_method="exp").score


# %% [markdown]
# Both systems' statistics, and the check:

# %%
stats = {"greedy": sentence_stats(greedy_judged.hypotheses),
         "beam 5": sentence_stats(beam5_judged.hypotheses)}
s2s.check(all(abs(bleu_of(stats[name].sum(0)) - j.bleu.score) < 1e-9 for name, j in
              [("greedy", greedy_judged), ("beam 5", beam5_judged)]),
          f"summed sentence statistics {stats['greedy'].shape} give both corpus BLEUs")

# %% [markdown]
# Now the draws: an array of sentence indices with one row per resample, drawn with
# sacrebleu's generator and seed, so that the library's test below sees the very same draws.
# How many times each sentence appears in a row, times the per-sentence statistics, gives
# that resample's totals for both systems at once. The first printed line compares how much
# each system's BLEU moves from draw to draw with how much their *difference* moves.

# %%
rng = np.random.default_rng(12345)  # sacrebleu's seed (SACREBLEU_SEED)
draws, n = 1000, len(references)
index = rng.choice(n, size=(draws, n), replace=True)  # (1000, N): each row one resample
times_drawn = np.stack([np.bincount(row, minlength=n) for row in index])  # (1000, N)
resampled = {name: np.array([bleu_of(t) for t in times_drawn @ s])  # (1000,) BLEU per draw
             for name, s in stats.items()}
diff = resampled["beam 5"] - resampled["greedy"]  # (1000,) the paired differences
observed = beam5_judged.bleu.score - greedy_judged.bleu.score
spreads = {name: r.std() for name, r in resampled.items()}
print(f"std over {draws} draws of {n} sentences: greedy {spreads['greedy']:.2f}, beam 5 "
      f"{spreads['beam 5']:.2f}, beam 5 - greedy {diff.std():.2f} BLEU -> the difference moves "
      + ("less than either score: the two share most of the draws' luck"
         if diff.std() < min(spreads.values()) else "no less than the scores themselves"))
print(f"observed beam 5 - greedy: {observed:+.2f} BLEU; the draws in which the real sample's "
      f"winner does not win: {np.mean(diff * np.sign(observed) <= 0):.1%}")

# %% [markdown]
# The second line is Koehn's reading of the draws: the share of resamples in which the
# system that won on the real sample does not win. Below 5 %, he calls the winner better
# with 95 % confidence — a one-sided question, asked after seeing who won. Here beam 5 won
# by +2.86 BLEU and stayed ahead in every one of the 1000 draws (0.0 %).
#
# sacrebleu (like the Moses script it reproduces) reports a two-sided p-value instead. It
# takes the sizes of the paired differences, $|d|$, subtracts their mean so that they
# describe a world in which the two systems differ by nothing, and counts the draws whose
# centred size exceeds the observed $|d|$: $p = (\text{count} + 1) / (\text{draws} + 1)$,
# the $+1$ so that $p$ is never 0. `s2s.metrics.paired_test` wraps sacrebleu's test; with the
# same draws its bootstrap p-value must be ours (to within one draw: sacrebleu adds the
# statistics in 32-bit floats). It also offers **approximate randomization** (Riezler and
# Maxwell 2005): each trial swaps the two systems' outputs of every sentence with probability
# 1/2, and $p$ is the share of trials whose difference is at least as large as the observed
# one. Both ask: if the two searches were interchangeable, how often would a difference this
# large appear?

# %%
from s2s.metrics import paired_test

centred = np.abs(diff) - np.abs(diff).mean()  # what |difference| does when there is none
p_hand = (np.sum(centred > abs(observed)) + 1) / (draws + 1)
bootstrap = paired_test(greedy_judged.hypotheses, beam5_judged.hypotheses, references)
randomization = paired_test(greedy_judged.hypotheses, beam5_judged.hypotheses, references,
                            method="randomization")
print(f"by hand      : p = {p_hand:.4f} ({draws:,} draws)")
for r in (bootstrap, randomization):
    print(f"{r.method:13}: p = {r.p_value:.4f} ({r.samples:,} "
          f"{'draws' if r.method == 'bootstrap' else 'trials'})  {r.signature}")
s2s.check(abs(bootstrap.p_value - p_hand) <= 1 / (draws + 1) or observed == 0,
          "paired_test's bootstrap p-value is the one computed by hand")

# %% [markdown]
# `paired_verdict` turns a test's result into words, at the usual level of 0.05; the rest of
# the chapter uses it for every verdict on two searches.

# %%
def paired_verdict(r, system: str, baseline: str, level: float = 0.05) -> str:
    if not r.significant(level):
        return f"no difference shown between {system} and {baseline} (p = {r.p_value:.4f})"
    return (f"{system} {'beats' if r.difference > 0 else 'loses to'} {baseline} beyond the luck "
            f"of the sample (p = {r.p_value:.4f} < {level})")


for r in (bootstrap, randomization):
    print(f"{r.method}: {paired_verdict(r, 'beam 5', 'greedy')}")

# %% [markdown]
# The cell above prints the verdict of both tests on this model and these sentences: both
# say that beam 5 beats greedy (p = 0.0010 and 0.0001). The two tests model the sample's luck
# differently (redrawing sentences against swapping outputs), so their p-values differ; when
# their verdicts disagree, the difference sits at the edge of what the sample can show, and
# the honest reading is that it does not settle the question.
#
# Why this test, and not the test over seeds that decides the committed experiments of
# chapters 3 and 4? That test (`s2s.metrics.seed_difference`) compares models **trained**
# from different seeds: its noise is what training does with another seed, and
# it needs several runs per arm. Here nothing was trained: one model, two searches, the same
# sentences. The luck that could fool us is the sample of sentences, and the paired test
# removes the part of it that the two systems share — the first line of the draws compares
# the spread of the difference with the spread of each score. Comparing the two scores as if
# they came from different sentences would count that shared luck as noise, and miss real
# differences. What the paired test cannot say is whether *another* model of the same
# design, trained from another seed, would gain as much from beam search: its p-value is
# about **this** model. A claim about the design needs several models, each tested on its
# own. That is the committed experiment.
#
# ### Three models, 500 sentences: the committed experiment
#
# `experiments/ch05_beam.toml` asks this section's question, and §5.5's, of the Luong models
# of chapter 4's committed experiment (`ch04_attention`, arm `luong`: one model per seed,
# smaller than the model this chapter decodes live at the `cpu` and `gpu` profiles; the cell
# prints their settings). Each model is decoded on the same valid sentences with six
# settings that differ from a control in one thing. The control, `beam5`, is beam 5 without
# a length penalty; `greedy`, `beam2` and `beam10` change the beam size; `beam5_average` and
# `beam5_gnmt` ($\alpha = 0.6$) change the ranking rule (§5.5). Each setting is compared with the control by the paired bootstrap,
# on each model separately. `cite` checks the committed file against its declaration and this
# code (it raises if the file is missing or stale) and names where it came from; the cell
# prints what was decoded and whether those models had finished learning (their validation
# BLEU's gain over the last quarter of training: the experiments layer flags 10 % or more).

# %%
from s2s.experiments.report import cite

beam = cite("ch05_beam")  # the committed result: results/ch05_beam.json
print(beam.source)
decoded = beam.results["source"]
settings = decoded["runs"][0]["settings"]
print(f"decoded: {decoded['experiment']}, arm {decoded['arm']}, seeds "
      f"{[r['seed'] for r in decoded['runs']]}, {[r['steps'] for r in decoded['runs']]} "
      f"steps; model {settings['model']}; data {settings['data']}")
control = beam.arm("beam5")
print(f"judged on {beam.results['metric']['sentences']} valid sentences; the models' "
      f"last-quarter gains {', '.join(f'{g:+.0%}' for g in control.gains)} -> "
      + ("still learning: not past noise" if control.still_learning else "past noise"))

# %% [markdown]
# Per setting: the mean valid BLEU over the models with its standard deviation, the mean
# output/reference length ratio (next to the control's), and per model the difference from
# the control with its paired p-value. The verdict calls a setting better (or worse) than
# the control only when it is significantly better (worse) on **every** model; otherwise it
# says on how many.

# %%
def cited(arm: str, level: float = 0.05) -> None:
    s, tests = beam.arm(arm), beam.paired(arm)
    print(f"{arm}: BLEU {s.spread.mean:.2f} ± {s.spread.std:.2f} over {len(s.seeds)} models "
          f"(beam5 {control.spread.mean:.2f}), length ratio {s.length_ratio:.3f} "
          f"(beam5 {control.length_ratio:.3f})")
    for seed, r in tests.items():
        print(f"    model {seed}: {r.difference:+.2f} BLEU against beam5, paired p = "
              f"{r.p_value:.4f}")
    better = sum(r.significant(level) and r.difference > 0 for r in tests.values())
    worse = sum(r.significant(level) and r.difference < 0 for r in tests.values())
    print("    -> " + (f"better than beam5 on all {len(tests)} models" if better == len(tests)
                       else f"worse than beam5 on all {len(tests)} models"
                       if worse == len(tests) else
                       f"no difference shown on any of the {len(tests)} models"
                       if better == worse == 0 else
                       f"no consistent difference: significantly better on {better} and worse "
                       f"on {worse} of {len(tests)} models (p < {level})"))


# %% [markdown]
# The three settings that change the beam size (the other two come in §5.5):

# %%
# the committed result: results/ch05_beam.json
for arm in ["greedy", "beam2", "beam10"]:
    cited(arm)

# %% [markdown]
# Greedy decoding is worse than beam 5 on all three models, each time with a paired p far
# below 0.05: beam search's gain over greedy decoding is a property of chapter 4's design, not
# of one model or one sample of sentences — the live test above saw the same on this
# chapter's own model. Widening the beam from 2 to 5 probably still pays: beam 2 is behind
# beam 5 on all three models, by about half a BLEU point or more, significantly on two of
# them (on the third p is just above 0.05). From 5 to 10 it does not: beam 10's differences
# from beam 5 are about a tenth of a BLEU point, either way (-0.13 to +0.12), with p-values
# that the luck of 500 sentences gives easily. On these models beam 10 buys nothing that beam 5 does not, and
# it costs more: in §5.4's live sweep (this chapter's model, GNMT) beam 5 and beam 10 both
# scored 38.41 valid BLEU, at 249.8 and 123.8 sentences/s. The length ratios fall as the beam
# widens — the pull towards shorter outputs of §5.1 — yet every one stays above 1: on this
# design the outputs are *longer* than the references, so the pull costs nothing here.
#
# ## 5.5 Does the short-output bias show on this model?
#
# §5.1 showed exactly that likelihood prefers short outputs. Does that hurt a trained model,
# and do the penalties help? Beam 5 without a length penalty (§5.4 decoded it already), with
# the average and with GNMT ($\alpha = 0.6$), on the same valid sentences, each with its BLEU
# and the length ratio of §5.4. Below 1, BLEU's brevity penalty lowers the score; at or
# above 1, the outputs are not too short for BLEU.

# %%
results, outputs = {}, {}
for penalty in [None, "average", "gnmt"]:
    j = outputs[penalty] = beam5_judged if penalty is None else judge(
        model, data, "valid", profile.eval_sentences, beam_size=5, length_penalty=penalty)
    results[penalty] = (j.bleu.score, length_ratio(j))
    print(f"length penalty {penalty!s:8}: BLEU {j.bleu.score:5.2f}, "
          f"output/reference length {length_ratio(j):.3f}")

# %% [markdown]
# What the measurement says, in words computed from it. The check states the one thing that
# must hold on any model. The search walks the same candidates whatever the ranking rule; a
# penalty never stops it earlier than plain log-probability would (a penalty only raises the
# rank of the longer, alive hypotheses), and among the finished outputs it never prefers a
# shorter one than plain log-probability picks. So no sentence's output gets shorter in the
# model's tokens — so the length ratio, which counts sacrebleu's tokens, should follow; the
# check tests that on the corpus. The BLEU verdicts are §5.4's paired bootstrap: each
# penalty against no penalty, on the same sentences.

# %%
bleu0, ratio0 = results[None]
print(f"no penalty: output/reference length {ratio0:.3f} -> " + (
    "outputs shorter than the references: the short-output bias shows" if ratio0 < 1 else
    "outputs at least as long as the references: no short-output bias on this model"))
for penalty in ["average", "gnmt"]:
    r = paired_test(outputs[None].hypotheses, outputs[penalty].hypotheses, references)
    print(f"{penalty}: {r.difference:+.2f} BLEU against no penalty -> "
          + paired_verdict(r, f"the {penalty} penalty", "no penalty"))
s2s.check(all(results[p][1] >= ratio0 for p in ["average", "gnmt"]),
          "neither length penalty makes the outputs shorter than no penalty does")

# %% [markdown]
# Read the verdict lines with §5.1 and §5.4 in mind. The table's lesson — likelihood prefers
# short outputs — is a property of the *search objective*. Whether it hurts a given model
# depends on how much probability that model puts on stopping early. We would expect a model
# that has not learnt where sentences end (an undertrained one, say) to give short outputs a
# high probability, so that its length ratio without a penalty falls below 1 and a penalty
# buys back length — this chapter trains no such model, so that half is a prediction, not a
# measurement. A model that has learnt it gives its no-penalty outputs about the references'
# length already; then a penalty only adds length the references do not have, and need not
# help. The first line says which case this model is on these sentences: a ratio below 1 is
# the first, at or above 1 the second — even where §5.4 saw the mean length fall as the beam
# widened, since a falling length is a pull, and only a ratio below 1 a bias. The other two
# lines say whether either penalty changes BLEU beyond the luck of the sample. Here the model
# is in the second case (a ratio of 1.016 without a penalty), and neither penalty helps: the
# average, which lengthens the outputs most (1.045), loses 0.34 BLEU to no penalty with
# p = 0.0440, just under the 0.05 level, and GNMT's -0.14 is no difference shown
# (p = 0.0879).
#
# That is one model. The committed experiment asks the same question of three models: the
# same cited result, its two ranking-rule settings against beam 5 without a penalty.

# %%
# the same committed result as in §5.4: results/ch05_beam.json
for arm in ["beam5_average", "beam5_gnmt"]:
    cited(arm)

# %% [markdown]
# Neither penalty helps on chapter 4's design: neither differs significantly from plain
# beam 5 on any of the three models, by at most about a third of a BLEU point either way.
# That is what the length ratios predict: beam 5's outputs
# are already longer than the references, so a rule that favours longer hypotheses has no
# short-output bias to correct. The live lines above, for this chapter's own model judged the
# same way, agree: neither penalty beat plain beam 5 there either (the average penalty even
# lost 0.34 BLEU, p = 0.044).
#
# ### The chosen setting, judged once on test
#
# Everything so far chose on the **valid** split. The decoding setting with the best valid
# BLEU — among the beam sizes of §5.4 (with GNMT) and the three ranking rules at beam 5 of
# this section — is chosen now; the cell prints the three best and tests the winner against
# the runner-up on the same valid sentences.

# %%
candidates = {(k, "gnmt"): j for k, j in judged.items()}
candidates.update({(5, penalty): j for penalty, j in outputs.items()})
ranked = sorted(candidates, key=lambda s: candidates[s].bleu.score, reverse=True)
(k_best, penalty_best), runner_up = ranked[0], ranked[1]
for k, penalty in ranked[:3]:
    print(f"beam {k:2}, length penalty {penalty!s:8}: valid BLEU "
          f"{candidates[k, penalty].bleu.score:5.2f}")
close = paired_test(candidates[runner_up].hypotheses,
                    candidates[k_best, penalty_best].hypotheses, references)
print(f"chosen on valid: beam {k_best}, length penalty {penalty_best}; against the runner-up "
      f"(beam {runner_up[0]}, {runner_up[1]}): "
      + paired_verdict(close, "the chosen setting", "the runner-up"))

# %% [markdown]
# It is now judged once on the **test** split, next to greedy decoding, with a paired test
# on the test sentences. These are the chapter's final numbers; nothing is chosen after
# them. (The self-check that the chosen setting also beats greedy on test runs only at
# profiles whose model trains long enough to claim it; the `ci` profile's model trains for
# 15 seconds, and there a difference is noise.)

# %%
test_greedy = judge(model, data, "test", profile.eval_sentences)
test_beam = judge(model, data, "test", profile.eval_sentences, beam_size=k_best,
                  length_penalty=penalty_best)
print(f"test split, {len(test_beam.hypotheses)} sentences: greedy "
      f"{test_greedy.bleu.score:.2f} BLEU, chosen beam search {test_beam.bleu.score:.2f} BLEU")
valid_gain = candidates[k_best, penalty_best].bleu.score - greedy_judged.bleu.score
test_gain = test_beam.bleu.score - test_greedy.bleu.score
print(f"gain over greedy: {valid_gain:+.2f} BLEU on valid (where it was chosen), "
      f"{test_gain:+.2f} on test")
final = paired_test(test_greedy.hypotheses, test_beam.hypotheses, test_beam.references)
print("on test: " + paired_verdict(final, "the chosen beam search", "greedy"))
if profile.expect_bleu_attention > 0:  # profiles that train long enough to claim something
    s2s.check(test_gain > 0, "the setting chosen on valid also beats greedy on test")

# %% [markdown]
# Read the gain line first. On valid, the setting's gain over greedy is likely flattered: it
# was picked as the best of several settings, and a setting the valid sample happened to
# favour is more likely to be picked. On test nothing was chosen, so the test gain is the
# fair estimate, and the paired test on test says whether it is more than the luck of the
# test sentences. Here the two gains are close (+2.86 on valid, +2.78 on test), and on test
# the chosen beam search beats greedy beyond the luck of the sample (p = 0.0010). What the
# choice does not show is that this setting is the *best* one: the cell before tested the
# winner against the runner-up on valid, and where that test shows no difference — as here:
# beam 5 without a penalty against beam 5 with GNMT, p = 0.0879 — which of the top settings
# wins on valid is the luck of the sample. Choosing by BLEU alone also ignores speed: §5.4's
# table gives each beam size's rate, and a system that must serve users would take the
# cheaper of two settings a test cannot tell apart. Here the two best are both beam 5, so
# that table does not separate them; beam 10 with GNMT, third at the same 38.41 valid BLEU
# as the runner-up, ran at 123.8 sentences/s against 249.8 at beam 5 there. The greedy figure
# on test is chapter 4's test score of this model (§4.6).
#
# ## 5.6 Batched vs per-sentence speed
#
# §5.3 checked on four sentences that `batched_beam_search` returns what `beam_search`
# returns one sentence at a time. Is it faster, and why? `timed` runs a search once and
# measures it, and counts its work with a *forward hook* (a function PyTorch calls after a
# module's forward pass) on the decoder's output layer, `model.decoder.out`, the largest
# matrix product of a decoder step: each call adds the number of rows that went through it,
# one row per hypothesis per step.

# %%
def timed(search):
    """search() -> (its result, seconds, decoder steps, rows through the output layer)."""
    rows = []
    hook = model.decoder.out.register_forward_hook(
        lambda module, args, output: rows.append(args[0].shape[0]))
    try:
        start = time.perf_counter()
        result = search()
        return result, time.perf_counter() - start, len(rows), sum(rows)
    finally:
        hook.remove()


# %% [markdown]
# Both searches on the first 64 valid sources (the benchmark's setting below), beam 5 without
# a length penalty, once each on whatever machine runs the notebook; the check compares their
# best hypotheses sentence by sentence.

# %%
first_64 = [src for src, _ in data.references("valid")[:64]]
src64, len64 = source_batch(model.src_vocab, first_64, device)
one_by_one = timed(lambda: [beam_search(model, src64[b:b + 1, :len64[b]], len64[b:b + 1], 5, 30)
                            for b in range(len(first_64))])
together = timed(lambda: batched_beam_search(model, src64, len64, beam_size=5, max_len=30))
s2s.check([h[0].value for h in one_by_one[0]] == [h[0].value for h in together[0]],
          f"both searches return the same best hypothesis for each of {len(first_64)} sentences")
for name, (_, seconds, calls, rows) in [("per sentence", one_by_one), ("batched", together)]:
    print(f"{name:12}: {len(first_64) / seconds:7.1f} sentences/s, {calls:4} decoder calls, "
          f"{rows:6,} rows through the output layer")
speed, work = one_by_one[1] / together[1], together[3] / one_by_one[3]
print(f"batched: {speed:.1f}x the speed with {work:.2f}x the rows -> " + (
    "more arithmetic in less time" if work >= 1 and speed > 1 else
    "less time" if speed > 1 else "no faster here"))

# %% [markdown]
# Why is batching faster? Not because it does less arithmetic: it does **more**, and the
# row counts above show how much more. `batched_beam_search` keeps all its $B \times K$ rows
# at every step. At the first step, $K - 1$ of each sentence's $K$ rows are empty beams
# (score $-\infty$). Once a sentence is finished its rows are not removed but *masked* —
# their scores set to $-\infty$, so that nothing is chosen from them — and they go on through
# the decoder until the last sentence of the batch is done. The per-sentence search runs at
# most $K$ rows (one at the first step) and stops each sentence as soon as it is done. The
# batched search wins on the other column: each decoder call has a fixed cost — Python,
# dispatching a dozen operators, matrix products too small to keep the cores busy — which
# the per-sentence search pays once per step *per sentence* and the batched one once per
# step per batch. (Dropping finished sentences from the batch, as fairseq's
# `SequenceGenerator` does, would save the masked rows' arithmetic at the cost of
# re-indexing every state tensor.)
#
# One timing on a shared machine is noisy; run the cell again to see by how much.
# `benchmarks/README.md` records a steadier measurement, made with `python
# benchmarks/decode_throughput.py --profile cpu` on 2026-11-24 on the course's 2-core CI
# machine (CPU, torch 2.13.0), with chapter 4's model as it was cached then: greedy
# decoding, per-sentence and batched beam search on the same first 64 valid sources at beam
# 5, the best of 3 repeats each, in fp32 and in bf16 (sentences/s; the last column divides
# the two beam searches' rates):
#
# | precision | greedy | beam 5, per sentence | beam 5, batched | batched / per sentence |
# |---|---|---|---|---|
# | fp32 | 1,550.7 | 43.0 | 332.1 | 7.7× |
# | bf16 | 1,758.1 | 41.7 | 483.7 | 11.6× |
#
# In fp32 the two beam searches returned the same hypotheses. bf16 made batched beam search
# faster still, but only 73.4 % of the 5-best lists (and 96.9 % of greedy outputs) were
# identical to fp32's, which is why decoding stays fp32 by default (this notebook decodes in
# fp32). Compare methods within one run,
# not single figures across runs: the rates of §5.4 are yet another measurement (`judge`,
# which also detokenises and scores, on all the valid sentences judged), with this
# chapter's model, on another day.

# %% [markdown]
# ## Exercises
#
# Four exercises, graded with nbgrader (see `homework/README.md`): the coding parts by
# the test cell under them (the visible tests, plus hidden ones when graded), the written
# answers by hand. Points are in each cell's nbgrader metadata and in the headings.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_code_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 1 (coding, 2 points).** Write `gnmt(score, length, alpha)` — the GNMT normalised
# score $\text{score} / ((5 + \text{length})/6)^\alpha$ — and check that with $\alpha = 0$
# it is the raw log-probability. With $\alpha = 1$ it is *not* the average
# $\text{score}/\text{length}$ (§5.1): the tests below also check that your `gnmt` with
# $\alpha = 1$ and the average rank the pair of outputs of §5.1 in opposite orders.

# %% nbgrader={"grade": false, "grade_id": "ex1_code_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gnmt(score: float, length: int, alpha: float) -> float:
    ### BEGIN SOLUTION
    return score / ((5 + length) / 6) ** alpha
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_code_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert gnmt(-3.0, 4, 0.0) == -3.0
assert abs(gnmt(-3.0, 4, 0.6) - normalised(-3.0, 4, "gnmt", 0.6)) < 1e-12
assert gnmt(-1.0, 1, 1.0) > gnmt(-3.0, 4, 1.0)  # GNMT, alpha = 1: the short one first
assert -1.0 / 1 < -3.0 / 4  # the average: the long one first
### BEGIN HIDDEN TESTS
assert abs(gnmt(-2.0, 7, 1.0) - (-2.0 * 6 / 12)) < 1e-12
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_experiment_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 2 (experiment, 1 + 2 points).** How many candidates does beam search score? With
# $V$ possible next tokens, beam $k$ and $n$ steps it extends at most $k$ hypotheses by $V$
# tokens per step. Write `beam_work(V, k, n)` (an upper bound: $k V$ per step, but only $V$
# at the first step) and compare it with the number of outputs exhaustive search scores: for
# the table, whose hypotheses can go on with $V = 4$ tokens (A, B, C, `<eos>`) for at most 4
# steps, against the count from §5.2 and the candidates the traced beam 2 actually scored;
# for chapter 4's model, against `count_outputs(V, L)` from §5.3. Then, in the cell after the
# tests: report the numbers, explain why the traced search scored fewer candidates than
# your bound (the trace of §5.2 shows where), and say how each count grows with $L$.

# %% nbgrader={"grade": false, "grade_id": "ex2_experiment_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def beam_work(vocab: int, k: int, steps: int) -> int:
    ### BEGIN SOLUTION
    return vocab + (steps - 1) * k * vocab
    ### END SOLUTION


print(f"table: at most {beam_work(4, 2, 4)} candidates (traced: "
      f"{sum(len(step) for step in steps)}) vs {n_table_outputs} outputs; chapter 4's model, "
      f"beam 5: {beam_work(V, 5, L + 1):,} candidates vs a {len(str(space))}-digit count")

# %% nbgrader={"grade": true, "grade_id": "ex2_experiment_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert beam_work(7, 1, 4) == 28
### BEGIN HIDDEN TESTS
assert beam_work(10, 5, 3) == 10 + 2 * 50
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex2_experiment_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer* (from the line printed above). On the table, beam 2 may score at most
# $4 + 3 \cdot 2 \cdot 4 = 28$ candidates; the traced search scored 22, and exhaustive search
# scores all 40 outputs. The trace of §5.2 shows where the 6 went: 4 candidates at the first
# step and $2 \times 4$ at the second and third, but at the fourth step the length limit
# allows only `<eos>`, so each of the 2 alive hypotheses had one candidate (the walk also
# never scores a token of probability 0). On chapter 4's model, beam 5 over $L + 1 = 13$
# steps scores at most 459,086 candidates, against a 47-digit number of outputs. The bound
# grows linearly with the length, $V + (n - 1) k V$ for $n$ steps, while the number of outputs grows
# exponentially, about $V^L$: on the toy table the two are of the same size, and on a real
# vocabulary beam search looks at a vanishing fraction of the outputs — which is why it can
# miss the best one.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_concept_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 3 (written answer, 2 points).** The library's early stop is exact without a
# length penalty and a heuristic with one (§5.2). In two or three sentences: what property
# of plain log-probability makes the stop safe, why does the average lack it, and what would
# a stop rule have to know to be exact with the average? (Hint: the `EARLY` table.)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex3_concept_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* A log-probability is a sum of terms that are each $\le 0$, so extending a
# hypothesis can only lower its score: once the best alive hypothesis, scored as if it ended
# now, ranks below the finished ones, no continuation of it can overtake them. The average
# divides by the length, and appending a token whose log-probability is above the current
# average *raises* the average: on `EARLY`, `A` ranks below `<eos>` after one step (average
# $\log 0.3 / 2 = -0.60$ scored as if it ended now, as in §5.2, against $-0.51$),
# yet
# `A A A <eos>` ends with the better average ($\log 0.274 / 4 = -0.32$ against
# $\log 0.6 / 1 = -0.51$). To stop exactly with the average, the rule must bound what an
# alive hypothesis can still reach: with scores $\le 0$ and a length limit, a hypothesis of
# score $s$ can at best end with average $s / (L_{\max} + 1)$ (every further token of
# probability 1, up to the limit), so the search may stop only when the best finished average
# beats that bound for every alive hypothesis — which needs the maximum length, and with a
# long limit almost never allows an early stop.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_experiment_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 4 (experiment, 3 points).** Are the BLEU differences between the three
# length-penalty rules of §5.5 larger than the luck of which valid sentences were drawn?
# §5.4 ran the paired bootstrap by hand for greedy decoding against beam 5; §5.5 printed
# `paired_test`'s verdicts for the penalties. Redo it by hand for the rules: keep the three
# lists of outputs (`outputs[None]`, `outputs["average"]` and `outputs["gnmt"]`, each
# `.hypotheses`) and the references, then draw the sentences 200 times with replacement —
# the same draw for all three rules — and recompute corpus BLEU each time (with
# `s2s.metrics.corpus_bleu`, or from per-sentence statistics as §5.4 does). In what fraction
# of the draws does no penalty beat GNMT? Report the fraction with the number of sentences,
# and say whether it agrees with §5.5's verdict line for GNMT. (Add your own code
# cells above the answer cell.)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex4_experiment_answer", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# *What a full answer contains* (the chapter ran the bootstrap for greedy decoding against
# beam 5, not for the ranking rules, so there are no fractions here to copy; the grader
# checks the student's against their printed cells): the three rules' outputs on the same
# valid sentences; 200 draws of sentence indices with replacement, each draw used for all
# three rules (that pairing is the point: it removes the luck that is common to the rules);
# corpus BLEU per rule and draw; the fraction of draws in which no penalty beats GNMT,
# reported with the number of sentences; and a conclusion — a fraction near 0.5 means the
# sample cannot tell the rules apart, a fraction near 0 or 1 (say below 0.05 or above 0.95)
# that the difference survives the resampling — set against §5.5's verdict line: the two
# should agree away from the edge; near it, 200 draws are too few to settle the question,
# and Koehn's one-sided fraction and sacrebleu's two-sided p-value can fall on different
# sides of 0.05. (1 point for a correct paired bootstrap, 1 for the reported fraction and
# sentence count, 1 for the conclusion about §5.5's verdicts.)
