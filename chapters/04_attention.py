# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/v0.1.0/chapters/04_attention.ipynb)
#
# # 4. Attention
#
# Chapter 1 measured the cost of squeezing a sequence into one context vector on a toy task;
# chapter 3 saw long sentences drift. **Attention** lets the decoder look at every encoder
# output at every step, with weights it computes itself.
#
# **In this chapter you will learn**
# 1. the attention recipe — score, masked softmax, weighted sum — and five scoring functions;
# 2. why the softmax must be masked, with an example of what goes wrong without the mask;
# 3. the Bahdanau and Luong decoders: why Luong's (without input feeding) can run its RNN over
#    the whole target in one call and batch the attention of all steps, while Bahdanau's must
#    step — and what that buys in speed, measured;
# 4. to measure what attention buys: valid-split BLEU with and without attention, same encoder,
#    same steps — a small live run, overall and by sentence length, then the committed
#    experiment that decides it with three seeds per arm and chapter 3's seeds test;
# 5. to read attention heatmaps of held-out sentences, including word-order changes.
#
# **Prerequisites**: chapter 1 (the interface and the context-vector bottleneck), chapter 2
# (padding and masks), chapter 3 (the GRU encoder–decoder, `fit`, `judge`, BLEU; packing; the
# seeds test of §3.7), and batched matrix products (`torch.bmm`, `@`) in PyTorch.
#
# *Sentences: Tatoeba (tatoeba.org) via manythings.org/anki, CC-BY 2.0 France.*
#
# **Exercises and their solutions.** The solutions (for the open experiments, what a full answer
# contains) are in this notebook, under each exercise
# at the end; to work the exercises without seeing them, open the student version
# instead: `make release` writes it to `release/04_attention.ipynb` (see `homework/README.md`).

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
import matplotlib.pyplot as plt
import torch

import s2s
from s2s.precision import describe

profile, device = s2s.setup()
print(describe(profile.precision, device))  # what training runs in (chapter 3, §3.12)

# %% [markdown]
# ## 4.1 Score, mask, weigh
#
# A decoder step has a **query** $q$ (what it is looking for); the encoder offers one **key**
# $k_j$ and one **value** $v_j$ per source position (here both are the encoder outputs). A
# scoring function gives one number per position, a softmax turns the scores into weights
# $\alpha_j$ that sum to one, and the context is $\sum_j \alpha_j v_j$.
#
# A padded source has positions that are not words. Their scores must get **zero weight**,
# otherwise the decoder reads padding. We build the masked softmax by hand: fill masked scores
# with the most negative number, take the softmax, and multiply by the mask — so that a row
# with nothing to attend to gives zeros, not uniform weights over padding.

# %%
# NBVAL_CHECK_OUTPUT
def my_masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """scores (B, T_q, T_k); mask (B, T_k), True = a real position."""
    mask = mask[:, None, :]
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)  # a copy: no in-place
    return torch.softmax(filled, dim=-1) * mask


scores = torch.tensor([[[1.0, 2.0, 3.0, 4.0]], [[1.0, 2.0, 3.0, 4.0]], [[1.0, 2.0, 3.0, 4.0]]])
mask = torch.tensor([[True, True, True, True], [True, True, False, False], [False] * 4])
print("plain softmax: ", torch.softmax(scores[1, 0], -1).numpy().round(3))
for row in range(3):
    print(f"masked, row {row}:", my_masked_softmax(scores, mask)[row, 0].numpy().round(3))

# %%
from s2s.attention import masked_softmax

s2s.check(torch.equal(my_masked_softmax(scores, mask), masked_softmax(scores, mask)),
          "our masked softmax equals s2s.attention.masked_softmax")

# %% [markdown]
# **What goes wrong without the mask.** Encode a short sentence twice: alone, and padded to the
# width of a longer one in the same batch. With the mask, the context vector is the same
# either way. Without it, part of the attention goes to the `<pad>` positions and the context —
# what the decoder reads — changes with the *other* sentences in the batch:

# %%
# NBVAL_CHECK_OUTPUT
from s2s.attention import Attention, DotScore
from s2s.models import RNNEncoder

torch.manual_seed(0)
encoder = RNNEncoder(vocab_size=30, embed_size=8, hidden_size=8, num_layers=1).eval()
short = torch.tensor([[5, 6, 7]])
padded = torch.tensor([[5, 6, 7, 0, 0, 0]])
attend = Attention(DotScore())
query = torch.ones(1, 1, 8)
with torch.no_grad():
    memory_alone, _ = encoder(short, torch.tensor([3]))
    memory_padded, _ = encoder(padded, torch.tensor([3]))

# %% [markdown]
# The same query attends three times: to the unpadded sentence, to the padded one with the
# mask, and to the padded one with every position allowed:

# %%
# NBVAL_CHECK_OUTPUT
with torch.no_grad():
    alone, _ = attend(query, memory_alone, memory_alone, torch.tensor([[True] * 3]))
    masked, w_masked = attend(query, memory_padded, memory_padded, padded != 0)
    everything = torch.ones(1, 6, dtype=torch.bool)
    unmasked, w_unmasked = attend(query, memory_padded, memory_padded, everything)
print("weights with the mask:   ", w_masked[0, 0].numpy().round(3))
print("weights without the mask:", w_unmasked[0, 0].numpy().round(3))
print("same context as unpadded, with the mask:   ", torch.allclose(masked, alone, atol=1e-6))
print("same context as unpadded, without the mask:", torch.allclose(unmasked, alone, atol=1e-6))

# %% [markdown]
# Why do the pads get any weight at all? The packed encoder zeroes its outputs at pad
# positions, so with the **dot** score used here (and with `general`, $q^\top W k$) a pad's
# score is exactly 0 — not $-\infty$ — and $e^0$ is far from nothing next to the real
# positions' scores. With the **additive** score the pad's score is not 0 but
# $w_v^\top \tanh(W_q q)$ (the key term vanishes), the same for every pad and just as
# capable of taking weight. Either way only the mask removes them.
#
# ## 4.2 Five scoring functions
#
# | name | score$(q, k)$ | parameters | from |
# |---|---|---|---|
# | additive | $w_v^\top \tanh(W_q q + W_k k)$ | $W_q, W_k, w_v$ | Bahdanau et al. 2015 |
# | dot | $q^\top k$ | none (same sizes) | Luong et al. 2015 |
# | scaled dot | $q^\top k / \sqrt{d}$ | none | Vaswani et al. 2017 |
# | general | $q^\top W k$ | $W$ | Luong et al. 2015 |
# | concat | $v^\top \tanh(W [q; k])$ | $W, v$ | Luong et al. 2015 |
#
# Side by side on the same queries and keys, with random (untrained) parameters — only the
# shapes and the masking are the point here; training decides what the weights mean:

# %%
from s2s.attention import make_score

torch.manual_seed(0)
q, k = torch.randn(1, 5, 16), torch.randn(1, 7, 16)
key_mask = torch.tensor([[True] * 5 + [False] * 2])
fig, axes = plt.subplots(1, 5, figsize=(13, 2.6))
for ax, kind in zip(axes, ["additive", "dot", "scaled_dot", "general", "concat"], strict=True):
    score = make_score(kind, 16, 16, 16)
    _, weights = Attention(score)(q, k, k, key_mask)
    n_params = sum(p.numel() for p in score.parameters())
    ax.imshow(weights[0].detach().numpy(), cmap="Greys", vmin=0, vmax=1)
    ax.set(title=f"{kind} ({n_params} params)", xlabel="key", ylabel="query")
fig.tight_layout()
plt.show()

# %% [markdown]
# The two last columns (padding) are white in every panel. Dot scores of 16-dimensional random
# vectors spread widely, so their softmax is nearly one-hot in four of the five rows;
# dividing by $\sqrt{16}$ softens it — that is why the scaled version exists.
#
# ## 4.3 Two decoders
#
# **Bahdanau** (`s2s.models.BahdanauDecoder`): at step $t$ the query is the decoder's *previous*
# hidden state $s_{t-1}$; the context $c_t$ joins the embedding of the previous token as the
# RNN's input. So step $t$'s RNN input needs step $t-1$'s RNN output: the decoder must run one
# step at a time, even in training.
#
# **Luong** (`s2s.models.LuongDecoder`): the RNN runs first; its output $h_t$ is the query; the
# output layer reads the *attentional vector* $\tilde h_t = \tanh(W_c [c_t; h_t])$. The RNN
# never reads the context, so in training it runs over the whole target in **one call**, and the
# attention for all $T$ steps is **one batched matmul**. With *input feeding* (used in CS224n),
# $\tilde h_{t-1}$ joins the next input, which brings back the step-by-step loop.
#
# The two data flows side by side (drawn by `s2s.diagrams.attention`; red marks what forces
# Bahdanau's decoder to run step by step, and the dashed arrow is Luong's input feeding):

# %%
from s2s.diagrams.attention import attention_data_flow

attention_data_flow(source_len=4, input_feeding=True)
plt.show()

# %% [markdown]
# Both read a **bidirectional** encoder's outputs (each position sees the whole sentence). The
# library checks that the parallel and step-by-step Luong agree:

# %%
from s2s.data import load_translation
from s2s.models import LuongDecoder

torch.manual_seed(0)
luong_dec = LuongDecoder(vocab_size=30, embed_size=8, hidden_size=8, memory_size=16).eval()
bi_encoder = RNNEncoder(30, 8, 8, bidirectional=True).eval()
src, src_len = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]]), torch.tensor([4, 2])
tgt_in = torch.tensor([[2, 11, 12, 13, 14], [2, 15, 16, 17, 18]])
with torch.no_grad():
    state = luong_dec.init_state(bi_encoder(src, src_len), src_len)
    parallel, _ = luong_dec(tgt_in, state)  # all T steps in one call
    steps = []
    for t in range(tgt_in.shape[1]):  # the same, one step at a time
        step_logits, state = luong_dec.step(tgt_in[:, t], state)
        steps.append(step_logits)

# %%
s2s.check(torch.allclose(parallel, torch.stack(steps, 1), atol=1e-5),
          "Luong without input feeding: parallel logits == step-by-step logits")

# %% [markdown]
# ## 4.4 What attention buys, at equal steps
#
# The data of chapter 3, and three models with **the same bidirectional GRU encoder**, the
# same sizes, the same batches and the same number of steps (`compare_steps`): no attention
# (chapter 3's decoder, reading the bridged final state of the bidirectional encoder as its
# context), Bahdanau, and Luong without input feeding. The only difference is the decoder's
# access to the encoder outputs — plus the parameters attention itself needs, which we count.
#
# The live runs of this section are **small**: `compare_steps` steps at this profile's size,
# three seeds for the main pair and one for the rest. They show the mechanism — the same
# settings with and without attention, judged the same way — but they are too small to decide
# anything. The decision comes at the end of the section, from a committed experiment that
# trains every arm for 8,000 steps with three seeds and applies chapter 3's seeds test.
#
# Which score? Luong's paper offers three (dot, general, concat). We compared the two with
# parameters — `general` and the additive score (`additive`, Bahdanau's form, which is close
# to Luong's concat) — and chose the additive one on the **valid** split with
# `python benchmarks/attention_scores.py --steps 600` (Luong decoder at the `cpu` profile's
# size, 600 steps per score, seed 0; run in fp32, before training moved to bf16, on the
# course's 2-core CPU machine, 2026-11-24): valid BLEU 20.58 for the additive score against
# 7.82 for `general` (`benchmarks/README.md` records these figures and the entropies below).
# One seed per score decides which score to use here, not how large the difference is. The
# unscaled `general` score collapsed onto single source positions: the mean entropy of its
# attention rows was 0.014 nats, against 0.768 for the additive score (0 means all weight on
# one position). Chapter 7 (§7.3) returns to this collapse: it records the
# attention rows step by step during training to show when the collapse happens, and it tests
# one explanation against a control arm in a committed experiment (`ch07_collapse`). This
# chapter simply uses the additive score in both attention decoders.
#
# `cached_model` trains each model once and keeps it, keyed by its settings and the library's
# cache version (raised whenever a change alters what training produces), so chapter 5 can
# reuse a model trained here without depending on this notebook.

# %%
from dataclasses import replace

from s2s.metrics import bleu_by_length, judge
from s2s.models import build_model
from s2s.zoo import cached_model, profile_config, profile_train_config

data = load_translation("fra-eng", max_len=profile.max_len, max_pairs=profile.max_pairs,
                        min_freq=profile.min_freq)

# %%
configs = {
    "no attention": profile_config("rnn", profile, data, bidirectional=True),
    "Bahdanau": profile_config("bahdanau", profile, data, bidirectional=True,
                               attention="additive"),
    "Luong": profile_config("luong", profile, data, bidirectional=True, attention="additive"),
}


def n_params(cfg) -> int:
    return sum(p.numel() for p in build_model(cfg, data.src_vocab, data.tgt_vocab).parameters())


for name, cfg in configs.items():
    print(f"{name:22}{n_params(cfg):12,} parameters")

# %% [markdown]
# The attention models are larger: the score and the output combination have weights of
# their own. So a gain could come from size alone. The control for that is a model without
# attention that is just as large: the same decoder with wider embeddings, the narrowest
# width (in steps of 8) at which it has at least as many parameters as Luong's model:

# %%
target = n_params(configs["Luong"])
wide = next(cfg for e in range(profile.embed_size, 4 * profile.embed_size, 8)
            if n_params(cfg := profile_config("rnn", profile, data, bidirectional=True,
                                              embed_size=e)) >= target)
configs["no attention, as large"] = wide
print(f"embed size {wide.embed_size} instead of {profile.embed_size}: "
      f"{n_params(wide):,} parameters (Luong: {target:,})")

# %% [markdown]
# The two arms of the main comparison — no attention and Luong — are trained with three seeds
# each (a seed sets the initial weights and the batch order). Bahdanau and the size control
# get one seed each: one run can reveal a large effect of size, but not a small one, and the
# committed experiment below gives Bahdanau three seeds. Everything is judged on the
# **valid** split; each run prints its steps, training time, precision and best validation
# loss (loaded from the cache, a model prints those of the run that trained it):

# %%
SEEDS = (0, 1, 2)
short_cfg = profile_train_config(profile, max_steps=profile.compare_steps)
models, histories, results = {}, {}, {}
for name, cfg in configs.items():
    for seed in SEEDS if name in ("no attention", "Luong") else SEEDS[:1]:
        models[name, seed], histories[name, seed] = cached_model(
            f"ch04-{cfg.kind}-seed{seed}", cfg, data, replace(short_cfg, seed=seed),
            profile=profile.name, device=device)
        results[name, seed] = judge(models[name, seed], data, split="valid",
                                    max_sentences=profile.eval_sentences)
        h = histories[name, seed]  # as trained, whether just now or loaded from the cache
        print(f"{name}, seed {seed}: {h.steps} steps in {h.seconds / 60:.1f} min "
              f"({h.precision}); best validation loss {h.best_val:.3f}")

# %% [markdown]
# BLEU per seed, mean and spread (largest minus smallest), then the effect — the difference
# of the means, Luong minus no attention — set against the larger of the two seed spreads,
# chapter 3's rough yardstick before its seeds test. (Speed is not compared here: these runs
# were trained at different moments, and §4.8 measures it on equal terms.)

# %%
import statistics


def bleus(name: str) -> list[float]:
    return [results[key].bleu.score for key in results if key[0] == name]


for name in configs:
    b = bleus(name)
    print(f"{name:22} BLEU {' '.join(f'{x:5.2f}' for x in b):18} "
          f"mean {statistics.mean(b):5.2f}  spread {max(b) - min(b):4.2f}")
effect = statistics.mean(bleus("Luong")) - statistics.mean(bleus("no attention"))
spread = max(max(b) - min(b) for b in (bleus("Luong"), bleus("no attention")))
print(f"live, {profile.compare_steps} steps: Luong - no attention = {effect:+.2f} BLEU, "
      f"{'larger' if abs(effect) > spread else 'not larger'} than the larger seed spread "
      f"({spread:.2f})")

# %%
low, high = min(bleus("no attention")), max(bleus("no attention"))
size_alone = bleus("no attention, as large")[0]
where = "inside" if low <= size_alone <= high else ("above" if size_alone > high else "below")
below_luong = size_alone < min(bleus("Luong"))
print(f"the size control: {size_alone:.2f} BLEU, {where} the no-attention seeds' range "
      f"({low:.2f}-{high:.2f}), {'below' if below_luong else 'not below'} every Luong run")
if effect <= spread:
    print("-> no gain beyond the seed spread in this run, so nothing for size to explain")
elif where != "above" and below_luong:
    print("-> more parameters alone did not close the gap in this run (one seed: indicative only)")
else:
    print("-> this run does not rule out that size explains part of the gap")
if profile.expect_bleu_attention > 0:  # profiles that train long enough to claim something
    s2s.check(effect > spread, f"attention's gain ({effect:+.2f} BLEU) exceeds the seed "
              f"spread ({spread:.2f})")
    s2s.check(size_alone < min(bleus("Luong")),
              "the as-large model without attention stays below every Luong run")

# %% [markdown]
# The two cells above print what this live run shows: whether Luong's gain over the model
# without attention is larger than the seeds' spread, and where the size control — a model
# without attention with *more* parameters than Luong's — falls. Here Luong's gain is larger
# than the spread, and the larger model did not rise to Luong's runs: it scored below every
# one of them, and even below the range of the small model's three seeds. So in this run the
# extra weights are not what attention's gain is made of; it is the access to the encoder
# outputs. But a spread of three runs is a rough yardstick, the size control and Bahdanau have
# one run each, and `compare_steps` steps is a short budget: the curves below, evaluated at
# steps 150 and 300 only, show every run's validation loss still falling steeply at its last
# point. This run is a demonstration, not a verdict.
#
# The validation curves of all runs, drawn once training is over:

# %%
from s2s.plot import loss_curves

ax = loss_curves({f"{name}, seed {seed}": h for (name, seed), h in histories.items()})
ax.set_title(f"Validation loss, {profile.compare_steps} steps, bidirectional GRU encoder")
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# ### The committed experiment: `ch04_attention`
#
# The live run above is too small to decide whether attention helps. The experiment declared
# in `experiments/ch04_attention.toml` asks the same question with a larger budget: does an
# attention decoder beat the plain encoder–decoder at equal sizes and equal steps? Its design:
#
# * **control arm** `no_attention`: chapter 3's decoder reading the bridged final state of a
#   bidirectional GRU encoder (embeddings 64, hidden 128, one layer, dropout 0.1);
# * **two arms that each change one setting**, the decoder: `bahdanau` and `luong` (without
#   input feeding), both with the additive score — the same encoder, sizes, data and
#   learning rate;
# * **data**: about 30,000 pairs of at most 8 tokens per side (a seeded random sample of whole
#   source groups), split by source sentence as in chapter 2; `min_freq` 3;
# * **budget**: 8,000 steps of 64 pairs per run, in fp32, **three seeds** per arm (nine runs);
# * **metric**: greedy BLEU on the first 500 distinct sources of the **valid** split, the split
#   for choosing a design — the test split is kept for final judgements like §4.6's.
#
# Two limits follow from the design. Like the live run, it holds the sizes equal, not the
# parameter counts: the attention arms carry the weights attention needs, and the live size
# control above, with its one seed, is this chapter's only check that size alone is not what
# counts. And its sentences are short, so it says nothing about long ones (§4.5 turns to
# length).
#
# The test is the one chapter 3 built in §3.7. For each attention arm, the difference of its
# mean BLEU from the control's, with a bootstrap 95 % interval that resamples the seeds within
# each arm: if the interval lies entirely on one side of 0, the spread of the seeds does not
# explain the difference — that is the verdict. The permutation p-value comes with it, but
# with three seeds per arm it cannot fall below 0.1 (§3.7 shows why), so it can say that the
# seeds do not separate two arms, not prove that they differ. The report also gives each run's
# last-quarter gain and flags an arm whose valid BLEU still rose by 10 % or more over the last
# quarter of its steps: that arm had not finished learning, and a comparison with it ranks
# speed of learning, not where the arms end. The cell checks the committed file against its
# declaration and the library's cache version (it raises if the file is missing or stale) and
# prints where it came from, the control's settings, then the full report:

# %%
# the committed result: results/ch04_attention.json (declared in experiments/ch04_attention.toml)
from s2s.experiments.report import cite

attention = cite("ch04_attention")
print(attention.source)
control_run = next(r for r in attention.results["runs"] if r["arm"] == "no_attention")
for part in ("data", "model", "train"):  # the control's settings; each arm changes the decoder
    print(f"{part}: {control_run['settings'][part]}")
print()
print(attention)

# %% [markdown]
# The next cell reads the verdicts off the intervals: each attention arm against the control,
# then Bahdanau against Luong — the same seeds test applied to those two arms' scores, taken
# from the same file (`s2s.metrics.seed_difference`, Luong minus Bahdanau). A verdict is
# qualified when an arm it involves was still learning.

# %%
from s2s.metrics import seed_difference


def verdict(d, system: str, baseline: str) -> str:
    flagged = [a for a in (system, baseline) if attention.arm(a).still_learning]
    caveat = f" (at this budget: {', '.join(flagged)} still learning)" if flagged else ""
    if not d.excludes_zero():
        return f"no difference shown between {system} and {baseline}{caveat}"
    return (f"{system} beats {baseline}" if d.difference > 0
            else f"{baseline} beats {system}") + caveat


pairs = [("bahdanau", "no_attention", attention.difference("bahdanau")),
         ("luong", "no_attention", attention.difference("luong")),
         ("luong", "bahdanau", seed_difference(attention.arm("bahdanau").scores,
                                               attention.arm("luong").scores))]
for system, baseline, d in pairs:
    print(f"{system} - {baseline}: {d.difference:+.2f} BLEU, 95 % interval [{d.low:+.2f}, "
          f"{d.high:+.2f}], permutation p = {d.p_value:.2f} -> {verdict(d, system, baseline)}")

# %% [markdown]
# The cell above prints the verdicts; they, not the live run, are this chapter's answer, and
# three things in them deserve a reading.
#
# * **Both attention decoders beat the same model without attention**, with intervals that
#   stay well clear of 0. The permutation p-value of each sits exactly at the smallest value
#   three seeds allow: of all the ways to relabel the six runs, the real labelling is the most
#   extreme (with its mirror image) — as strong as three seeds per arm can speak (§3.7).
# * **No arm is still learning.** The experiment first ran 4,000 steps, where one seed of
#   the control still gained 11 % over the last quarter, past the 10 % the flag allows; every
#   run was then continued exactly from its 4,000-step checkpoint to 8,000. The curves below
#   show where the arms end: every run's validation loss was lowest between steps 3,400 and
#   4,600, so the points at 6,000 and 8,000 judge that checkpoint, and the model without
#   attention ends far below both attention decoders, not on its way to them.
# * **Luong's decoder beats Bahdanau's** on these sentences, at this size and budget, and
#   without input feeding. That is one setting, not a law. The two decoders differ in more
#   than one way — where the query comes from ($s_{t-1}$ before the RNN step, or $h_t$ after
#   it) and where the context goes (into the RNN's input, or through $\tilde h_t$ straight to
#   the output layer) — and this experiment does not say which of those counts. §4.6 trains
#   Luong's decoder on: the one ranked first here, and the faster one (§4.8).
#
# The curves behind the means, from the same file (`Citation.curves`): each run's valid BLEU
# at its four points, and the step of its lowest validation loss, the checkpoint every later
# point judges:

# %%
print("\n".join(attention.curves()))

# %% [markdown]
# ## 4.5 Does the gain grow with sentence length?
#
# Chapter 1's toy said one context vector serves short inputs better than long ones, so
# attention should help most on long sentences. We split the valid sentences by source length
# and compare the two arms of the live run bucket by bucket, averaged over the three seeds,
# with the spread; the last line says in how many buckets Luong is ahead and whether the gain
# grows from each bucket to the next:

# %%
edges = [1, 4, 6, 8, 10, profile.max_len + 1]
by_length = {name: [bleu_by_length(results[name, seed], edges) for seed in SEEDS]
             for name in ("no attention", "Luong")}
labels = [b[0] for b in by_length["Luong"][0]]
counts = [b[1] for b in by_length["Luong"][0]]
stats = {name: [(statistics.mean(r[i][2] for r in runs), max(r[i][2] for r in runs) -
                 min(r[i][2] for r in runs)) for i in range(len(labels))]
         for name, runs in by_length.items()}
print(f"{'source tokens':14}{'sentences':>10}{'no attention':>15}{'Luong':>15}{'gain':>7}")
for i, label in enumerate(labels):
    (a, da), (b, db) = stats["no attention"][i], stats["Luong"][i]
    print(f"{label:14}{counts[i]:10}{a:9.1f} ±{da / 2:4.1f}{b:9.1f} ±{db / 2:4.1f}{b - a:7.1f}")
gains = [b[0] - a[0] for a, b in zip(stats["no attention"], stats["Luong"], strict=True)]
grows = all(later > earlier for earlier, later in zip(gains, gains[1:], strict=False))
ahead = sum(g > 0 for g in gains)
top = f"largest gain at {labels[gains.index(max(gains))]} tokens" if ahead else "no gain anywhere"
print(f"Luong ahead in {ahead} of {len(gains)} buckets; {top}; the gain "
      f"{'grows' if grows else 'does not grow'} steadily with length")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
for name, marker in (("no attention", "s"), ("Luong", "o")):
    means, spreads = zip(*stats[name], strict=True)
    ax.errorbar(labels, means, yerr=[d / 2 for d in spreads], marker=marker, capsize=3,
                label=name)
ax.set(xlabel="source length (tokens)", ylabel="valid BLEU (mean of 3 seeds)",
       title=f"BLEU by sentence length, {profile.compare_steps} steps")
ax.legend()
plt.show()

# %% [markdown]
# (± is half the seed range.) Read the last line of the table first, then the
# no-attention column, because that column says whether the question can be answered at all.
# In this run Luong is ahead in all five buckets, and the gain does not grow steadily: it
# rises from 3.0 BLEU at 1-3 tokens to 10.6 at 6-7, then falls to 8.8 and 6.9. But a
# bottleneck can only cost BLEU on long sentences once the model without attention
# translates short ones well, and after `compare_steps` steps it does not: it scores 2.1 to
# 3.8 BLEU in *every* bucket, short sentences included. It is at noise level everywhere,
# there is nothing left for length to take away, and the gain cannot grow with length
# whatever the bottleneck does. The bucket sizes differ too: the shortest and longest
# buckets hold 43 and 214 sentences, against 482 to 756 in the others, so their scores rest
# on the fewest sentences (the ± does not show that: every seed is judged on the same
# sentences). So a short live run like this one can show in which buckets attention is
# ahead after little training; whether its advantage grows with length needs a baseline that
# has learned more. Exercise 4 asks you to test that with longer training.
#
# ## 4.6 The best attention model, trained on
#
# Luong's model again, now trained for the profile's full budget (`attention_minutes`), with
# one change to the recipe: for the last 40 % of the budget the learning rate falls in a
# straight line to 0 (`TrainConfig(lr_decay=0.4)`), so the last steps refine the weights
# instead of jumping around a minimum. `s2s.zoo.attention_model` is the one place that
# defines this model, so chapter 5 gets the very same one (from the cache when this chapter has
# run, trained on the spot otherwise). The self-check's floors are chapter 3's (§3.9): a test
# BLEU at the `cpu` profile; at `ci`, whose seconds of training leave BLEU at noise level, a
# best validation loss at least `expect_loss_drop` nats below $\ln V$ (a uniform guess); both
# at `gpu`:

# %%
from s2s.zoo import attention_model

best, best_history = attention_model(profile, data, device)
final = judge(best, data, split="test", max_sentences=profile.eval_sentences)
print(f"Luong, {best_history.steps} steps, {best_history.seconds / 60:.1f} min: {final.bleu}")
print(final.examples(4))
if profile.expect_bleu_attention > 0:  # 0: no BLEU claim at this profile
    s2s.check(final.bleu.score >= profile.expect_bleu_attention,
              f"held-out BLEU {final.bleu.score:.1f} >= {profile.expect_bleu_attention} "
              f"(profile {profile.name})")
if profile.expect_loss_drop > 0:  # 0: no loss claim at this profile
    ceiling = profile.max_val_loss(len(data.tgt_vocab))
    s2s.check(best_history.best_val <= ceiling,
              f"validation loss {best_history.best_val:.2f} <= {ceiling:.2f} = ln V - "
              f"{profile.expect_loss_drop} (V = {len(data.tgt_vocab):,}; profile {profile.name})")

# %% [markdown]
# This is the chapter's final model, so it is judged on the **test** split. Its number
# is not comparable with chapter 3's final GRU (§3.9): the two differ in
# encoder (bidirectional here), training time and learning-rate schedule, not only in
# attention. The controlled comparisons are §4.4's — the small live one and the committed
# experiment — at equal steps on the valid split.
#
# Its loss curve, drawn after training:

# %%
ax = loss_curves({"Luong, full budget": best_history})
ax.set_yscale("log")
ax.set_title("Chapter 4's best model: validation loss")
plt.show()

# %% [markdown]
# ## 4.7 Heatmaps
#
# `s2s.decoding.greedy(..., return_attention=True)` records the weights of every step. English
# puts the adjective before the noun (*a red dress*), French mostly after it (*une robe rouge*):
# colours always follow the noun. We pick the first held-out sentences with a colour after
# *a*/*the* and draw the weights: each row is an output word, each column a source word. Where
# the word order changes, the dark cells (high weight) leave the diagonal and cross.

# %%
from s2s.decoding import greedy
from s2s.plot import attention_heatmap
from s2s.text import detokenize
from s2s.vocab import EOS, PAD

colours = {"red", "black", "white", "blue", "green", "yellow"}  # after the noun in French
picked = [src for src, _ in data.references("test")
          if any(a in ("a", "the") and b in colours
                 for a, b in zip(src, src[1:], strict=False))][:3]
picked = picked or [src for src, _ in data.references("test")[:3]]  # a small slice may have none
print([" ".join(p) for p in picked])

# %% [markdown]
# Greedy decoding of the picked sentences, recording the attention weights, and one heatmap
# per sentence:

# %%
src_ids = [best.src_vocab.encode(s) + [EOS] for s in picked]
width = max(map(len, src_ids))
src = torch.tensor([ids + [PAD] * (width - len(ids)) for ids in src_ids], device=device)
outputs, weights = greedy(best, src, torch.tensor([len(i) for i in src_ids]), 30,
                          return_attention=True)
fig, axes = plt.subplots(1, len(picked), figsize=(5 * len(picked), 4), squeeze=False)
for ax, source, out, w in zip(axes[0], picked, outputs, weights, strict=True):
    target = best.tgt_vocab.decode(out) + ["<eos>"]
    attention_heatmap(w[: len(target)], source + ["<eos>"], target[: w.shape[0]], ax=ax)
    print(detokenize(source), "->", detokenize(target[:-1]))
fig.tight_layout()
plt.show()

# %% [markdown]
# Most output words put their largest weight on the source word they translate (the final
# punctuation less so: in the third sentence, the row of *.* looks more at *red* than at
# *.*), so the dark cells run down the diagonal where the two languages share their word
# order — and cross where they do not: *maison* looks at *house* and then *bleue* back at
# *blue*; *crayon* at *pencil* and then *rouge* at *red*; *robe* at *dress*, then *rouge* at
# *red*. Nobody told the model about adjective order; it learned where to look from sentence
# pairs alone. (Looking in the right place is not the same as translating right. In this run
# all three outputs are correct French, the articles' gender included, but the rows of *une*
# and *un* put their largest weight on *a*, which has no gender: the heatmap shows where the
# model looked, not how it chose *une* over *un*.)
#
# ## 4.8 Speed, measured by the benchmark script
#
# §4.4 compared quality, not speed: its runs were trained at different moments on a shared
# machine. To compare the decoders fairly, a benchmark runs them on
# the same batches, taking turns. These figures are **not** computed by this notebook: they
# come from one run of `python benchmarks/train_throughput.py --profile cpu` on the course's
# 2-core CI machine (AMD EPYC, torch 2.13.0+cpu) on 2026-11-24 (medians of 3 rounds; rerun it
# on yours). They were measured in **fp32**, before training moved to mixed precision; this
# chapter's models trained in bf16 (the first cell's choice), which chapter 3 (§3.12)
# measured as faster than fp32, so these are not the speeds at which they trained. The script
# now measures fp32 and the `auto` precision side by side, with a fused Adam in both; rerun
# that way on 2026-11-24 on another 2-core machine (Intel Xeon with AMX), it gave Luong /
# Bahdanau 1.06× for the whole model and 1.16× for the decoders alone in fp32, and 1.16× and
# 1.20× in bf16 (`benchmarks/README.md` lists the whole-model figures): the same small
# ratio, for the reasons below. The `cpu` profile's size: embed 256, hidden 256, 1 layer,
# batch 128, a 7,526-word target vocabulary.
#
# | training step of ... | target tokens/s |
# |---|---|
# | the GRU model, no attention | 5,995 |
# | Bahdanau (bidirectional GRU encoder), decoder step by step | 4,421 |
# | Luong (bidirectional GRU encoder), decoder parallel over time | 4,746 |
# | Bahdanau's decoder alone (encoder outputs given) | 5,262 |
# | Luong's decoder alone | 6,379 |
# | the output layer alone (hidden → vocabulary) | 9,346 |
#
# **Luong / Bahdanau: 1.07× for the whole model, 1.21× for the decoders alone.** Why so little,
# for a decoder that runs "in parallel"? Two reasons; the table shows the first.
#
# * The output layer — a 256 × 7,526 matrix applied to every target token, forward and
#   backward — is the same in both decoders, and the library already applies it once to all
#   steps in both. Per target token it takes 1/9,346 s = 107 µs, out of 157 µs for Luong's whole
#   decoder and 190 µs for Bahdanau's. Outside the output layer the two decoders need 50 and 83
#   µs: there, the parallel one is 1.7× faster. The shared part dilutes the gain.
# * "One RNN call over the whole target" does not make the recurrence itself parallel: $h_t$
#   still needs $h_{t-1}$, and `nn.GRU` computes the steps one after another inside that call.
#   What the one call batches over time is the input projection and the per-call overhead;
#   what Luong's design adds is attention for all steps in one `bmm` instead of one per step.
#
# So on a CPU "parallel over time" means: one RNN call instead of $T$ (the recurrence inside
# it is still sequential), and one batched matrix product for the attention of all $T$ steps
# instead of $T$ small ones. Each of Bahdanau's steps, by contrast, must wait for the
# previous step's state before it can even score the source.
#
# On a GPU, where the step loop pays for several small kernel launches per time step and the
# arithmetic is cheap, the same script (`--device cuda`) measured on an NVIDIA H100 a Luong /
# Bahdanau ratio of about 2.4–2.6× for the whole model and 3.2–3.7× for the decoders alone
# (figures reported with the course's issue 10, November 2026, not re-run for this edition).
# The design's advantage is real; how much of it you see depends on what else the hardware
# spends its time on.

# %% [markdown]
# ## Exercises
#
# Four exercises, graded with nbgrader (see `homework/README.md`): the coding parts by
# the test cell under them (the visible tests, plus hidden ones when graded), the written
# answers by hand. Points are in each cell's nbgrader metadata and in the headings.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_code_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 1 (coding, 2 points).** Write scaled dot-product attention by hand — scores,
# your masked softmax, weighted sum — for queries `(B, T_q, d)`, keys `(B, T_k, d)`,
# values `(B, T_k, d_v)` and a mask `(B, T_k)`. Return `(context, weights)`, shapes
# `(B, T_q, d_v)` and `(B, T_q, T_k)`, and equal `Attention(ScaledDotScore())`.

# %% nbgrader={"grade": false, "grade_id": "ex1_code_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
from s2s.attention import ScaledDotScore


def my_attention(q, k, v, mask):
    ### BEGIN SOLUTION
    scores = q @ k.transpose(1, 2) / q.shape[-1] ** 0.5
    weights = my_masked_softmax(scores, mask)
    return weights @ v, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_code_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_q, _k, _v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
_mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
_ctx, _w = my_attention(_q, _k, _v, _mask)
_ref_ctx, _ref_w = Attention(ScaledDotScore())(_q, _k, _v, _mask)
assert torch.allclose(_ctx, _ref_ctx, atol=1e-6) and torch.allclose(_w, _ref_w, atol=1e-6)
### BEGIN HIDDEN TESTS
assert torch.all(_w[1, :, 2:] == 0)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_experiment_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 2 (experiment, 1 + 2 points).** An attention weight row is a distribution over
# source positions. Its *entropy* says how focused it is. Write `attention_entropy(w)` for
# weights `(T, S)` returning the mean entropy (in nats) of the rows, treating `0 * log 0` as
# 0, and compute it for the three heatmaps of §4.7 (the cell prints one number per
# sentence). Then, in the cell after the tests: a uniform row over $S$ positions has entropy
# $\log S$, and $e^{H}$ is the number of positions a row of entropy $H$ is spread over as
# evenly as a uniform row would be. Report the entropies next to $\log S$ for each sentence
# ($S$ counts the source words and `<eos>`), and say what they tell about the heatmaps.

# %% nbgrader={"grade": false, "grade_id": "ex2_experiment_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attention_entropy(w: torch.Tensor) -> float:
    ### BEGIN SOLUTION
    logs = torch.where(w > 0, w.log(), torch.zeros_like(w))
    return float(-(w * logs).sum(-1).mean())
    ### END SOLUTION


print([round(attention_entropy(w), 2) for w in weights])

# %% nbgrader={"grade": true, "grade_id": "ex2_experiment_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert abs(attention_entropy(torch.full((2, 4), 0.25)) - torch.log(torch.tensor(4.0))) < 1e-6
assert attention_entropy(torch.eye(3)) == 0.0
### BEGIN HIDDEN TESTS
assert abs(attention_entropy(torch.tensor([[0.5, 0.5, 0.0]])) - 0.6931) < 1e-3
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex2_experiment_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer* (from the entropies printed above, at the `cpu` profile). The three sources
# have $S$ = 6, 8 and 7 positions with `<eos>` (*that's a blue house .*, *do you have a red
# pencil ?*, *she wore a red dress .*), so uniform rows would have entropies
# $\log 6 = 1.79$, $\log 8 = 2.08$ and $\log 7 = 1.95$ nats. The rows average 0.83, 1.18 and
# 0.77 — well below that (0.83 and 0.77 less than half, 1.18 under 60 %):
# $e^{0.83} \approx 2.3$, $e^{1.18} \approx 3.3$ and $e^{0.77} \approx 2.2$, so a typical row
# spreads its weight over two to three source positions, not over the sentence.
# That is what the heatmaps show: one or two dark cells in most rows. A row is not one-hot
# either (entropy 0): part of the weight goes to a neighbouring word, to the final
# punctuation or to `<eos>`. The entropy is a mean over rows, so it cannot say which rows are
# the diffuse ones; the heatmap can: in the second sentence, the most diffuse, *avez-vous* —
# one French word for *do you have* — spreads its weight over those three source words (most
# of it on *have*), *un* over *a*, *red* and *pencil*, and the rows of `?` and `<eos>` are
# spread too.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_concept_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 3 (written answer, 2 points).** (a) Luong's decoder *trains* in parallel over
# time (§4.3). Does it also *translate* — greedy decoding — in parallel over time? Why or why
# not? (b) Input feeding gives that parallelism up in training. What does the decoder's RNN
# learn from $\tilde h_{t-1}$ that it cannot learn from $h_{t-1}$ and the previous word
# alone?

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex3_concept_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* (a) No. In training, teacher forcing gives the decoder every input at once:
# the inputs are the reference's words, known before the first step. In decoding, the input
# at step $t$ is the word the model chose at step $t-1$, which does not exist until that step
# has run; so every decoder — Luong's, Bahdanau's, the one without attention — translates one
# step at a time, and Luong's design gives no parallelism over time at inference; within a step it
# only changes the order of operations (the RNN first, then attention). (b) $\tilde h_{t-1} = \tanh(W_c [c_{t-1}; h_{t-1}])$ contains the context
# $c_{t-1}$: what attention read from the source at the previous step. Without input
# feeding the RNN's state is built from the words written so far only; it never learns where
# attention looked, so it cannot keep track of which source words have already been
# translated (which is why Luong et al. (2015) introduced it: to make the model aware of its
# past alignment decisions, against words dropped or translated twice).

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_experiment_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 4 (experiment, 3 points, about seven minutes of training or more at the `cpu`
# profile: §4.4's runs of these two arms printed 0.8-0.9 min per 300 steps in bf16; longer
# where training runs in fp32).** §4.5 could not test whether attention's advantage grows
# with sentence length, because the model without attention was still at noise level. Train
# one seed of each arm for four times as long —
# `cached_model(f"ex4-{cfg.kind}", cfg, data, replace(short_cfg, max_steps=4 *
# profile.compare_steps), profile=profile.name, device=device)` for `configs["no attention"]`
# and `configs["Luong"]` — judge both on the valid split and print `bleu_by_length` for each
# with the same `edges`. Report the gain per bucket. Does the no-attention model now
# translate short sentences clearly better than long ones? Does the gain grow with length?
# With one seed per arm, which differences would you trust, given the spreads of §4.5? (Add
# your own code cells above the answer cell.)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex4_experiment_answer", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# *What a full answer contains* (this chapter did not run the experiment, so there are no
# numbers here to copy; the grader checks the student's against their printed cells): the two
# models trained with the same settings except the decoder, both judged on **valid**; a table
# of BLEU per length bucket for each with the bucket sizes; the gain per bucket; a statement
# whether the no-attention model's BLEU now falls with length (it must score clearly above
# noise level on short sentences before a bottleneck can show); a statement whether the gain
# grows with length; and a judgement against the seed spreads that §4.5 printed per bucket
# (± half the seed range) and §4.4 printed on the whole valid set: with one seed per arm, a
# per-bucket difference no larger than those spreads is not evidence. (1 point for the
# runs and the table, 1 for the two statements read off it, 1 for the judgement against the
# spread.)
#
# **Going further (not graded).** The other side of the word-order story: French keeps a few
# adjectives — of age, beauty, goodness, size: *vieux*, *nouveau*, *beau*, *bon*, *grand*,
# *petit* — before the noun. Pick a held-out sentence with `"old"`, `"new"` or `"big"` from
# `data.references("test")`, draw its heatmap as in §4.7, and check that its adjective and
# noun rows do not cross.
