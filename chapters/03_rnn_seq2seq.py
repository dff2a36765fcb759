# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/main/chapters/03_rnn_seq2seq.ipynb)
#
# # 3. An RNN encoder–decoder, trained for real
#
# Chapter 1 built the interface on a toy; chapter 2 built the data. Here we put them together:
# a multi-layer GRU (then LSTM) encoder–decoder trained on the English→French corpus, judged on
# **held-out** sentences with standard BLEU.
#
# **In this chapter you will learn**
# 1. how an RNN encoder handles padded batches so that its final state is each sentence's last
#    real token, and how the decoder reads the context vector at every step;
# 2. the masked loss, and what goes wrong without it — measured;
# 3. a training loop with teacher forcing, clipping, validation, keep-the-best and resuming,
#    and what feeding back the model's own predictions changes;
# 4. greedy decoding, BLEU from scratch, and corpus BLEU with sacrebleu;
# 5. how to save a model, load it, and translate raw sentences.
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
# ## 3.1 Data
#
# One call from chapter 2: pairs of at most `profile.max_len` tokens per side, split by source
# sentence, vocabularies from the training split.

# %%
from s2s.data import load_translation

data = load_translation("fra-eng", max_len=profile.max_len, max_pairs=profile.max_pairs,
                        min_freq=profile.min_freq)
src, src_len, tgt_in, tgt_out = next(iter(data.loader("train", batch_size=4, bucket=False)))
print("src", tuple(src.shape), "src_len", src_len.tolist(), "tgt_in", tuple(tgt_in.shape))

# %% [markdown]
# ## 3.2 The encoder, and padding done right
#
# `s2s.models.RNNEncoder` embeds the source and runs a multi-layer GRU or LSTM over it. A padded
# batch hides a trap: an RNN run over the whole rectangle keeps updating its state on the
# `<pad>` positions, so "the final state" of a short sentence is the state after several pads.
# d2l's encoder does exactly that. We **pack** the batch
# (`nn.utils.rnn.pack_padded_sequence`): the RNN then stops each sentence at its real length.
#
# A small encoder shows the difference. We encode a padded batch, then each sentence alone
# with no padding at all, and compare final states:

# %%
# NBVAL_CHECK_OUTPUT
from s2s.models import RNNEncoder

torch.manual_seed(0)
enc = RNNEncoder(vocab_size=20, embed_size=8, hidden_size=16, num_layers=2, cell="gru").eval()
batch = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]])  # the second sentence has 2 pads
lengths = torch.tensor([5, 3])
outputs, state = enc(batch, lengths)
print("outputs", tuple(outputs.shape), "  state", tuple(state.shape), "(layers, B, H)")
_, alone = enc(batch[1:, :3], lengths[1:])
_, through_pads = enc.rnn(enc.embedding(batch))  # what an unpacked RNN does
print("packed state == state without padding:     ",
      torch.allclose(state[:, 1], alone[:, 0], atol=1e-6))
print("unpacked state == state without padding:   ",
      torch.allclose(through_pads[:, 1], alone[:, 0], atol=1e-6))
print("packed outputs at the pad positions are 0: ", bool((outputs[1, 3:] == 0).all()))

# %% [markdown]
# Is packing slow? `benchmarks/train_throughput.py` times the encoder (forward + backward)
# both ways on the same real, bucketed batches, at the `cpu` profile's size (embed 256, hidden
# 256, 1 layer, batch 128; medians of 3 rounds). One run on this course's 2-core CI machine:
#
# | encoder | packed (sentences/s) | padded, unpacked (sentences/s) | cost of packing |
# |---|---|---|---|
# | GRU | 5,292 | 6,441 | 18 % |
# | LSTM | 5,454 | 6,294 | 13 % |
#
# With bucketing (chapter 2) there is little padding left, so running over it wastes little —
# but the unpacked run gives wrong final states for every padded sentence. We pay the 13–18 %
# for correct states. (Full training steps, with the output layer, measured 5,995 and 5,834
# target tokens/s for the GRU and LSTM models in the same run.)
#
# With `bidirectional=True` a second RNN reads the sentence backwards, and the two final states
# are joined by a learned *bridge*, `tanh(W [h_fwd; h_bwd])`, into the decoder's size.
#
# ## 3.3 The decoder
#
# `RNNDecoder` is chapter 1's toy decoder grown up: embedding, a multi-layer GRU/LSTM that reads
# `[embedding of the previous token; context vector]` at every step, and a linear layer to
# logits. The context vector is the encoder's top-layer final state; the decoder's RNN starts
# from the encoder's final state. `Seq2Seq` joins an encoder and a decoder and carries the
# config and vocabularies, so a trained model can translate raw text by itself.

# %%
from s2s.models import ModelConfig, build_model


def config(cell: str, **changes) -> ModelConfig:
    return ModelConfig("rnn", len(data.src_vocab), len(data.tgt_vocab),
                       embed_size=profile.embed_size, hidden_size=profile.hidden_size,
                       num_layers=profile.num_layers, dropout=profile.dropout, cell=cell,
                       max_len=profile.max_len, **changes)


s2s.seed_everything(0)
gru = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
logits = gru(src, src_len, tgt_in)
print("logits", tuple(logits.shape), "= (B, T, target vocabulary)")
n_params = sum(p.numel() for p in gru.parameters())
n_out = sum(p.numel() for p in gru.decoder.out.parameters())
print(f"{n_params:,} parameters, {n_out / n_params:.0%} of them in the output layer")

# %% [markdown]
# ## 3.4 The masked loss
#
# The loss compares `logits` with `tgt_out` position by position. Positions after a
# sentence's `<eos>` are padding: they are not part of any translation. `s2s.train.sequence_loss`
# averages cross-entropy over **real target tokens only** (`ignore_index=0`), so padding gets
# exactly zero gradient. d2l's library loss averages over every position, padding included:
# the model then also learns to predict `<pad>` after `<eos>` — an easy task that lowers the
# loss without improving a single translation — and a short sentence in a long batch counts
# for less. Here is the same batch under both:

# %%
from s2s.train import sequence_loss

masked = sequence_loss(logits, tgt_out)
unmasked = sequence_loss(logits, tgt_out, mask=False)
pad_share = (tgt_out == 0).float().mean()
print(f"{pad_share:.0%} of tgt_out is padding; masked loss {masked:.3f}, unmasked {unmasked:.3f}")

# %% [markdown]
# We will train both and compare BLEU in §3.7.
#
# ## 3.5 Training
#
# `s2s.train.fit` is a loop you can read in one screen: teacher forcing (the decoder sees the
# true previous token), the masked loss, gradient clipping, Adam; every `eval_every` steps a
# validation loss, keeping the best weights and a checkpoint; early stopping. A progress bar and
# a live loss plot show while it runs in JupyterLab (they stay quiet in CI). The profile sets
# the budget: we first train for `profile.compare_steps` steps — the length of every
# side-by-side comparison in this chapter — and later resume the same run.

# %%
from dataclasses import replace

from s2s.download import cache_dir
from s2s.train import TrainConfig, fit

ckpt = cache_dir() / "models" / f"ch03-{profile.name}"
train_cfg = TrainConfig(max_steps=profile.compare_steps, lr=profile.lr,
                        batch_size=profile.batch_size, eval_every=profile.eval_every,
                        patience=None)
s2s.seed_everything(0)
gru = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
history = fit(gru, data, train_cfg, device=device, checkpoint=ckpt / "gru.pt")
print(f"{history.steps} steps in {history.seconds:.0f} s "
      f"({history.tokens_per_second:,.0f} target tokens/s); "
      f"validation loss {history.val_loss[0]:.2f} -> {history.val_loss[-1]:.2f}")

# %% [markdown]
# ## 3.6 Greedy decoding and BLEU
#
# `s2s.decoding.greedy` is chapter 1's generation loop, batched: encode once, then one
# `decoder.step` per output token, stopping each sentence at its `<eos>`. `s2s.translate` wraps
# it from raw strings to raw strings. How good are the translations? BLEU compares a system's
# n-grams with one or more human references. Let us write it from scratch, following Papineni
# et al. (2002), on token lists:
#
# * **clipped n-gram precision** $p_n$ for $n = 1..4$: each hypothesis n-gram counts as a match
#   at most as often as it occurs in the reference where it occurs most;
# * the **geometric mean** of the four precisions;
# * a **brevity penalty** $\min(1, e^{1 - r/c})$, with $c$ the hypothesis length and $r$ the
#   closest reference length, both summed over the corpus — without it, short safe outputs win.

# %%
import math
from collections import Counter


def count_ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def my_bleu(hypotheses: list[list[str]], references: list[list[list[str]]]) -> float:
    matches, totals, c, r = [0] * 4, [0] * 4, 0, 0
    for hyp, refs in zip(hypotheses, references, strict=True):
        c += len(hyp)
        r += min((abs(len(ref) - len(hyp)), len(ref)) for ref in refs)[1]
        for n in range(1, 5):
            best = Counter()
            for ref in refs:
                best |= count_ngrams(ref, n)
            matches[n - 1] += sum(min(k, best[g]) for g, k in count_ngrams(hyp, n).items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if min(matches) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / 4
    return 100 * math.exp(min(0.0, 1 - r / c) + log_p)


# %% [markdown]
# Now translate held-out sentences — distinct test sources, each with **all** its references —
# and score them with our BLEU, the library's copy of it, and sacrebleu run on the same tokens
# (`tokenize="none"`; `force=True` tells it we know the text is already tokenised). The three
# must agree.

# %%
from sacrebleu.metrics import BLEU

from s2s.data import detokenize, tokenize_words
from s2s.metrics import teaching_bleu

groups = data.references("test")[: profile.eval_sentences]
sources = [detokenize(src) for src, _ in groups]
references = [[detokenize(r) for r in refs] for _, refs in groups]
hypotheses = s2s.translate(gru, sources)
hyp_tok = [tokenize_words(h) for h in hypotheses]
ref_tok = [[tokenize_words(r) for r in refs] for refs in references]
ours = my_bleu(hyp_tok, ref_tok)
width = max(map(len, ref_tok))
streams = [[" ".join(r[k]) if k < len(r) else None for r in ref_tok] for k in range(width)]
theirs = BLEU(tokenize="none", smooth_method="none", force=True).corpus_score(
    [" ".join(h) for h in hyp_tok], streams).score
print(f"from scratch {ours:.3f} | s2s.metrics.teaching_bleu {teaching_bleu(hyp_tok, ref_tok):.3f}"
      f" | sacrebleu on the same tokens {theirs:.3f}")
s2s.check(abs(ours - theirs) < 1e-6 and abs(ours - teaching_bleu(hyp_tok, ref_tok)) < 1e-6,
          "our BLEU equals sacrebleu's on the same tokens")

# %% [markdown]
# From here on we use `s2s.metrics.corpus_bleu`: sacrebleu on **detokenised** text with its
# standard tokeniser, printed with its *signature* so that anyone can reproduce the number.
# (d2l's `bleu` is a different quantity: one sentence, one reference, and n-gram precisions
# weighted $p_n^{1/2^n}$ instead of the geometric mean, which makes it far more lenient —
# `tests/test_metrics.py` shows it on d2l's own code. Its scores do not compare with published
# BLEU.) `s2s.metrics.judge` does all of the above in one call.

# %%
from s2s.metrics import judge

result = judge(gru, data, max_sentences=profile.eval_sentences)
print(f"after {history.steps} steps: {result.bleu}")
print(result.examples(3))

# %% [markdown]
# ## 3.7 Without the mask
#
# Same model, same data, same number of steps, same seed — only the loss counts padding:

# %%
s2s.seed_everything(0)
gru_nomask = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
fit(gru_nomask, data, replace(train_cfg, mask_loss=False), device=device)
nomask = judge(gru_nomask, data, max_sentences=profile.eval_sentences)


def mean_length(judged) -> float:
    return sum(len(h.split()) for h in judged.hypotheses) / len(judged.hypotheses)


print(f"{'loss':12}{'BLEU':>8}{'mean output words':>20}")
for name, j in [("masked", result), ("unmasked", nomask)]:
    print(f"{name:12}{j.bleu.score:8.2f}{mean_length(j):20.1f}")

# %% [markdown]
# Read the two rows together. The unmasked model spends part of every gradient step on
# predicting `<pad>`, and its validation loss is not comparable to the masked one's (it is
# diluted by easy pad positions — the reason loss curves trained this way look better than the
# translations are). Whatever the gap in BLEU at this budget, the masked loss is the one that
# measures what we care about.
#
# ## 3.8 Teacher forcing, or feeding back the model's own predictions
#
# Teacher forcing trains the decoder on the true previous token, but at inference it sees its
# own, possibly wrong, previous output ("exposure bias"). `TrainConfig(feed_back=0.25)` feeds
# the model's own greedy prediction instead of the true token at 25% of positions (scheduled
# sampling). It has to run step by step, so each step costs more:

# %%
s2s.seed_everything(0)
gru_fb = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
fb_history = fit(gru_fb, data, replace(train_cfg, feed_back=0.25), device=device)
fed_back = judge(gru_fb, data, max_sentences=profile.eval_sentences)
print(f"{'training':24}{'BLEU':>8}{'target tok/s':>14}")
print(f"{'teacher forcing':24}{result.bleu.score:8.2f}{history.tokens_per_second:14,.0f}")
print(f"{'25% own predictions':24}{fed_back.bleu.score:8.2f}{fb_history.tokens_per_second:14,.0f}")

# %% [markdown]
# At the same number of steps, feeding back predictions early in training mostly feeds back
# noise (the model's predictions are still poor) and costs throughput; schedules that start at
# 0% and increase are the usual remedy. The course keeps teacher forcing.
#
# ## 3.9 Training on: resume from the checkpoint
#
# Our first GRU stopped after `compare_steps` steps, with its checkpoint on disk. `fit(...,
# resume=True)` reloads weights, optimizer and history, and continues until the profile's
# total time budget.

# %%
full_cfg = replace(train_cfg, max_steps=None, max_minutes=profile.max_train_minutes, patience=3)
history = fit(gru, data, full_cfg, device=device, checkpoint=ckpt / "gru.pt", resume=True)
print(f"{history.steps} steps, {history.seconds / 60:.1f} min; stopped: {history.stopped}")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(history.step_loss, lw=0.5, alpha=0.6, label="train (per step)")
ax.plot(history.val_steps, history.val_loss, "o-", label="validation")
ax.axvline(profile.compare_steps, color="grey", ls=":", label="resumed here")
ax.set(xlabel="step", ylabel="loss per target token", yscale="log", title="GRU seq2seq, en→fr")
ax.legend()
plt.show()

# %%
final = judge(gru, data, max_sentences=profile.eval_sentences)
print(f"GRU, held-out, {len(final.hypotheses)} sentences: {final.bleu}")
print(final.examples(6))
s2s.check(final.bleu.score >= profile.expect_bleu_rnn,
          f"held-out BLEU {final.bleu.score:.1f} >= {profile.expect_bleu_rnn} "
          f"(profile {profile.name})")

# %% [markdown]
# The translations of short sentences are often usable; longer ones drift — the context-vector
# bottleneck of chapter 1 at work on real data. Chapter 4 measures it by sentence length and
# removes it with attention.
#
# ## 3.10 LSTM
#
# An LSTM keeps a second state, the cell `c`, beside `h`; `RNNEncoder`/`RNNDecoder` take
# `cell="lstm"` and carry `(h, c)` pairs. Same budget as the first GRU run:

# %%
s2s.seed_everything(0)
lstm = build_model(config("lstm"), data.src_vocab, data.tgt_vocab)
lstm_history = fit(lstm, data, train_cfg, device=device)
lstm_result = judge(lstm, data, max_sentences=profile.eval_sentences)
print(f"after {profile.compare_steps} steps: GRU {result.bleu.score:.2f} BLEU "
      f"({history.tokens_per_second:,.0f} tok/s), LSTM {lstm_result.bleu.score:.2f} BLEU "
      f"({lstm_history.tokens_per_second:,.0f} tok/s)")

# %% [markdown]
# This compares the two cells only at the start of training (`compare_steps`); it says nothing
# about longer training, which this chapter does not measure.
#
# ## 3.11 Save, load, translate
#
# `fit` already wrote the best GRU to its checkpoint: weights, config and both vocabularies.
# `load_checkpoint` reads it with `torch.load(weights_only=True)` (no arbitrary code runs) and
# rebuilds the model; given the data's vocabularies, it refuses a checkpoint trained on other
# data instead of translating garbage.

# %%
from s2s.train import load_checkpoint

loaded = load_checkpoint(ckpt / "gru.pt", src_vocab=data.src_vocab, tgt_vocab=data.tgt_vocab,
                         device=device)
sentences = ["I am cold.", "Where is the station?", "She reads a book every day."]
for sentence, translation in zip(sentences, s2s.translate(loaded, sentences), strict=True):
    print(f"{sentence:32} -> {translation}")
s2s.check(s2s.translate(loaded, sentences) == s2s.translate(gru, sentences),
          "the loaded model translates exactly like the trained one")

# %% [markdown]
# Bad input gets a clear answer, not a crash deep inside PyTorch:

# %%
for bad in ["", 42]:
    try:
        s2s.translate(loaded, [bad])
    except (TypeError, ValueError) as err:
        print(f"{bad!r}: {type(err).__name__}: {err}")

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Write the masked loss by hand: per-position cross-entropy
# (`reduction="none"`), zero where `tgt_out` is `<pad>`, averaged over the real tokens. It
# must equal `sequence_loss`.

# %%
import torch.nn.functional as F


def my_masked_loss(logits: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    per_token = F.cross_entropy(logits.transpose(1, 2), tgt_out, reduction="none")  # (B, T)
    mask = (tgt_out != 0).float()
    return (per_token * mask).sum() / mask.sum()
    ### END SOLUTION


# %%
_logits = torch.randn(3, 5, 11)
_tgt = torch.tensor([[4, 5, 3, 0, 0], [6, 3, 0, 0, 0], [7, 8, 9, 10, 3]])
assert torch.allclose(my_masked_loss(_logits, _tgt), sequence_loss(_logits, _tgt))
### BEGIN HIDDEN TESTS
_real = logits.detach()
assert torch.allclose(my_masked_loss(_real, tgt_out), sequence_loss(_real, tgt_out))
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** Write `brevity_penalty(c, r)` for a corpus with hypothesis length `c` and
# reference length `r`, and use it to explain why a system that outputs only the first word of
# every translation gets a low BLEU even if every word is right.

# %%
def brevity_penalty(c: int, r: int) -> float:
    ### BEGIN SOLUTION
    return 1.0 if c > r else math.exp(1 - r / c)
    ### END SOLUTION


# %%
assert brevity_penalty(10, 8) == 1.0
assert abs(brevity_penalty(5, 10) - math.exp(-1)) < 1e-12
### BEGIN HIDDEN TESTS
assert brevity_penalty(10, 10) == 1.0
assert brevity_penalty(1, 8) < 0.001
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 3.** Which part of the model has the most parameters? Write
# `parameter_share(model)` returning a dict from each top-level part of the decoder
# (`embedding`, `rnn`, `out`) and of the encoder (`encoder`) to its share of all parameters.
# What does it say about where a CPU spends its time (hint: `out` runs once per target token)?

# %%
def parameter_share(model) -> dict[str, float]:
    ### BEGIN SOLUTION
    total = sum(p.numel() for p in model.parameters())
    parts = {"encoder": model.encoder, "embedding": model.decoder.embedding,
             "rnn": model.decoder.rnn, "out": model.decoder.out}
    return {k: sum(p.numel() for p in m.parameters()) / total for k, m in parts.items()}
    ### END SOLUTION


print({k: f"{v:.0%}" for k, v in parameter_share(gru).items()})

# %%
_shares = parameter_share(gru)
assert abs(sum(_shares.values()) - 1) < 1e-6
### BEGIN HIDDEN TESTS
assert set(_shares) == {"encoder", "embedding", "rnn", "out"}
### END HIDDEN TESTS
