# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/main/chapters/04_attention.ipynb)
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
# 3. the Bahdanau and Luong decoders, and why Luong's (without input feeding) trains in
#    parallel over time while Bahdanau's cannot;
# 4. to measure the bottleneck: held-out BLEU by sentence length with and without attention;
# 5. to read attention heatmaps of held-out sentences, including word-order changes.
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
import matplotlib.pyplot as plt
import torch

import s2s

profile, device = s2s.setup()

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
    alone, _ = attend(query, memory_alone, memory_alone, torch.tensor([[True] * 3]))
    masked, w_masked = attend(query, memory_padded, memory_padded, padded != 0)
    everything = torch.ones(1, 6, dtype=torch.bool)
    unmasked, w_unmasked = attend(query, memory_padded, memory_padded, everything)
print("weights with the mask:   ", w_masked[0, 0].numpy().round(3))
print("weights without the mask:", w_unmasked[0, 0].numpy().round(3))
print("same context as unpadded, with the mask:   ", torch.allclose(masked, alone, atol=1e-6))
print("same context as unpadded, without the mask:", torch.allclose(unmasked, alone, atol=1e-6))

# %% [markdown]
# (The packed encoder already zeroes its outputs at pad positions, so an unmasked softmax gives
# them score 0 — not $-\infty$ — and $e^0$ is far from nothing.)
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
# vectors spread widely, so their softmax is nearly one-hot; dividing by $\sqrt{16}$ softens it —
# that is why the scaled version exists.
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
    parallel, _ = luong_dec(tgt_in, state)
    steps = []
    for t in range(tgt_in.shape[1]):
        step_logits, state = luong_dec.step(tgt_in[:, t], state)
        steps.append(step_logits)
s2s.check(torch.allclose(parallel, torch.stack(steps, 1), atol=1e-5),
          "Luong without input feeding: parallel logits == step-by-step logits")

# %% [markdown]
# ## 4.4 Training three models for the same number of steps
#
# The data of chapter 3, and three models at the same size and budget (`compare_steps`):
# chapter 3's GRU without attention, Bahdanau, and Luong without input feeding. Both attention
# models use the additive score (Luong calls it *concat*). With Luong's unscaled `general`
# score at this size, `benchmarks/attention_scores.py` measured the attention collapsing onto
# single source positions during training (mean row entropy 0.003 nats against 0.646 for the
# additive score after 2 minutes each) and a much lower BLEU at that budget (6.39 against
# 17.21).
# `cached_model` trains each once and keeps it, keyed by its settings and the library's code
# version, so chapter 5 can reuse a model trained here without depending on this notebook.

# %%
from s2s.metrics import bleu_by_length, judge
from s2s.train import cached_model, profile_config, profile_train_config

data = load_translation("fra-eng", max_len=profile.max_len, max_pairs=profile.max_pairs,
                        min_freq=profile.min_freq)
configs = {
    "no attention": profile_config("rnn", profile, data),
    "Bahdanau": profile_config("bahdanau", profile, data, bidirectional=True,
                               attention="additive"),
    "Luong": profile_config("luong", profile, data, bidirectional=True, attention="additive"),
}
short_cfg = profile_train_config(profile, max_steps=profile.compare_steps)
models, histories, results = {}, {}, {}
for name, cfg in configs.items():
    models[name], histories[name] = cached_model(f"ch04-{cfg.kind}", cfg, data, short_cfg,
                                                 profile=profile.name, device=device)
    results[name] = judge(models[name], data, max_sentences=profile.eval_sentences)

print(f"{'model':14}{'BLEU':>7}{'train tok/s':>13}{'minutes':>9}")
for name in configs:
    h = histories[name]
    print(f"{name:14}{results[name].bleu.score:7.2f}{h.tokens_per_second:13,.0f}"
          f"{h.seconds / 60:9.1f}")
speedup = histories["Luong"].tokens_per_second / histories["Bahdanau"].tokens_per_second
print(f"Luong (parallel) trains {speedup:.1f}x as many target tokens per second as Bahdanau")

# %% [markdown]
# `benchmarks/train_throughput.py` measures the same ratio in isolation (same batches, no
# validation): see the table at the end of this chapter.
#
# ## 4.5 The bottleneck, measured
#
# Held-out BLEU by source length, without and with attention, at the same training budget:

# %%
edges = [1, 4, 6, 8, 10, profile.max_len + 1]
fig, ax = plt.subplots(figsize=(6, 3))
for name in ["no attention", "Luong"]:
    buckets = bleu_by_length(results[name], edges)
    ax.plot([b[0] for b in buckets], [b[2] for b in buckets], "o-", label=name)
    print(name, [(label, n, round(score, 1)) for label, n, score in buckets])
ax.set(xlabel="source length (tokens)", ylabel="BLEU", title="Held-out BLEU by sentence length")
ax.legend()
plt.show()

# %% [markdown]
# At the same 300 steps on the `cpu` profile, attention wins in every length bucket, and the
# ratio between the two grows with the length of the source: ×2.3 for 1–3 tokens (2.0 → 4.5
# BLEU), ×2.9 for 4–5, ×3.3 for 6–7, ×4.0 for 8–9, ×4.2 for 10–12 (2.1 → 8.9). The longer the
# sentence, the more one context vector has to carry, and the more it helps to look back at
# every source position.
# Read it with care: both models are early in training, and the end buckets are small (38
# sentences of 1–3 tokens, 225 of 10–12; the counts are printed above).
#
# ## 4.6 The best attention model, trained on
#
# Luong's model again, now trained for the profile's full budget (`attention_minutes`), with
# one change to the recipe: for the last 40 % of the budget the learning rate falls in a
# straight line to 0 (`TrainConfig(lr_decay=0.4)`), so the last steps refine the weights
# instead of jumping around a minimum. `s2s.train.attention_model` is the one place that
# defines this model, so chapter 5 gets the very same one (from the cache when this chapter has
# run, trained on the spot otherwise):

# %%
from s2s.train import attention_model

best, best_history = attention_model(profile, data, device)
final = judge(best, data, max_sentences=profile.eval_sentences)
print(f"Luong, {best_history.steps} steps, {best_history.seconds / 60:.1f} min: {final.bleu}")
print(final.examples(4))
s2s.check(final.bleu.score >= profile.expect_bleu_attention,
          f"held-out BLEU {final.bleu.score:.1f} >= {profile.expect_bleu_attention} "
          f"(profile {profile.name})")

# %% [markdown]
# On the `cpu` profile: 33.8 held-out BLEU after 8.1 minutes, against chapter 3's 17.3 for the
# GRU without attention after 6.6 minutes (same size, constant learning rate) — attention and
# the decaying learning rate together; the comparison at equal steps in §4.4 isolates
# attention.
#
# ## 4.7 Heatmaps
#
# `s2s.decoding.greedy(..., return_attention=True)` records the weights of every step. English
# puts the adjective before the noun (*a red dress*), French mostly after it (*une robe rouge*):
# colours always follow the noun. We pick the first held-out sentences with a colour after
# *a*/*the* and draw the weights: each row is an output word, each column a source word. Where
# the word order changes, the bright cells leave the diagonal and cross.

# %%
from s2s.data import EOS, PAD, detokenize
from s2s.decoding import greedy
from s2s.plot import attention_heatmap

colours = {"red", "black", "white", "blue", "green", "yellow"}  # after the noun in French
picked = [src for src, _ in data.references("test")
          if any(a in ("a", "the") and b in colours
                 for a, b in zip(src, src[1:], strict=False))][:3]
picked = picked or [src for src, _ in data.references("test")[:3]]  # a small slice may have none
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
# Each output word attends mostly to the source word it translates, so the bright cells run
# down the diagonal where the two languages share their word order — and cross where they do
# not: *maison* looks at *house* and then *bleue* back at *blue*; *crayon* at *pencil* and then
# *rouge* at *red*; *robe* at *dress*, then *rouge* at *red*. Nobody told the model about
# adjective order; it learned where to look from sentence pairs alone.
#
# ## 4.8 Speed, measured by the benchmark script
#
# `python benchmarks/train_throughput.py --profile cpu` on this course's 2-core CI machine
# (medians of 3 rounds, the models taking turns; rerun it on yours). The `cpu` profile's size:
# embed 256, hidden 256, 1 layer, batch 128, a 7,526-word target vocabulary.
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
# for a decoder that runs "in parallel"? Two reasons, both visible in the table.
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
# On a GPU the step loop pays for several small kernel launches per time step, so the gap should
# be larger there; this course has not measured it yet (the script takes `--device cuda`).
#
# ## Exercises
#
# **Exercise 1.** Write scaled dot-product attention by hand — scores, your masked softmax,
# weighted sum — for queries `(B, T_q, d)`, keys and values `(B, T_k, d)` and a mask `(B, T_k)`.
# It must equal `Attention(ScaledDotScore())`.

# %%
from s2s.attention import ScaledDotScore


def my_attention(q, k, v, mask):
    ### BEGIN SOLUTION
    scores = q @ k.transpose(1, 2) / q.shape[-1] ** 0.5
    weights = my_masked_softmax(scores, mask)
    return weights @ v, weights
    ### END SOLUTION


# %%
_q, _k, _v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
_mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
_ctx, _w = my_attention(_q, _k, _v, _mask)
_ref_ctx, _ref_w = Attention(ScaledDotScore())(_q, _k, _v, _mask)
assert torch.allclose(_ctx, _ref_ctx, atol=1e-6) and torch.allclose(_w, _ref_w, atol=1e-6)
### BEGIN HIDDEN TESTS
assert torch.all(_w[1, :, 2:] == 0)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** An attention weight row is a distribution over source positions. Its
# *entropy* says how focused it is. Write `attention_entropy(w)` for weights `(T, S)` returning
# the mean entropy (in nats) of the rows, treating `0 * log 0` as 0, and compute it for the
# heatmaps above. A uniform row over S positions has entropy `log S`. (Then, the other side of
# the word-order story: French keeps a few adjectives — of age, beauty, goodness, size:
# *vieux*, *nouveau*, *beau*, *bon*, *grand*, *petit* — before the noun. Pick a held-out sentence
# with `"old"`, `"new"` or `"big"` from `data.references("test")`, draw its heatmap the same
# way, and check that its adjective and noun rows do not cross.)

# %%
def attention_entropy(w: torch.Tensor) -> float:
    ### BEGIN SOLUTION
    logs = torch.where(w > 0, w.log(), torch.zeros_like(w))
    return float(-(w * logs).sum(-1).mean())
    ### END SOLUTION


print([round(attention_entropy(w), 2) for w in weights])

# %%
assert abs(attention_entropy(torch.full((2, 4), 0.25)) - torch.log(torch.tensor(4.0))) < 1e-6
assert attention_entropy(torch.eye(3)) == 0.0
### BEGIN HIDDEN TESTS
assert abs(attention_entropy(torch.tensor([[0.5, 0.5, 0.0]])) - 0.6931) < 1e-3
### END HIDDEN TESTS
