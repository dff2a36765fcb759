# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/v0.1.0/chapters/03_rnn_seq2seq.ipynb)
#
# # 3. An RNN encoder–decoder, trained for real
#
# Chapter 1 built the interface on a toy; chapter 2 built the data. Here we put them together:
# a GRU (then LSTM) encoder–decoder — one layer at the `cpu` profile, two at `gpu` — trained on
# the English→French corpus, judged on
# **held-out** sentences with standard BLEU.
#
# **In this chapter you will learn**
# 1. how an RNN encoder handles padded batches so that its final state is each sentence's last
#    real token, and how the decoder reads the context vector at every step;
# 2. what the masked loss changes and what it does not — measured over three seeds, with
#    plenty of padding so that the mask has something to do;
# 3. a training loop with teacher forcing, clipping, validation, keep-the-best and resuming,
#    and what feeding back the model's own predictions changes;
# 4. greedy decoding, BLEU from scratch, and corpus BLEU with sacrebleu — where settings are
#    compared on the **valid** split and only the final model is judged on **test**;
# 5. how to save a model, load it, and translate raw sentences;
# 6. what mixed precision (bf16, fp16) keeps and loses, and what it changes in a training
#    run's speed and quality (§3.12).
#
# **Prerequisites**: chapter 1 (the `Encoder` / `Decoder` interface, teacher forcing, greedy
# generation), chapter 2 (`load_translation`, vocabularies, padding, masks and bucketing), and
# PyTorch's `nn.GRU` / `nn.LSTM` at the level of "it maps a sequence to a sequence of states".
#
# *Sentences: Tatoeba (tatoeba.org) via manythings.org/anki, CC-BY 2.0 France.*
#
# **Exercises and their solutions.** The solutions (for the open experiments, what a full answer
# contains) are in this notebook, under each exercise
# at the end; to work the exercises without seeing them, open the student version
# instead: `make release` writes it to `release/03_rnn_seq2seq.ipynb` (see `homework/README.md`).

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # the course package at its release; Colab's torch is kept
    from importlib.metadata import version

    with open("/tmp/keep-torch.txt", "w") as f:  # a pip constraint: torch stays as it is
        f.write(f"torch=={version('torch')}\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", "/tmp/keep-torch.txt",
                    "s2s-course @ git+https://github.com/s2s-course/seq2seq@v0.1.0"], check=True)
    print(f"installed s2s-course {version('s2s-course')} (v0.1.0), "
          f"torch {version('torch')} kept")

# %%
import matplotlib.pyplot as plt
import torch

import s2s
from s2s.precision import describe

profile, device = s2s.setup()
print(describe(profile.precision, device))  # what training runs in: §3.12

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
# That is a batch of four pairs in random order, so their lengths differ and the shorter ones
# are padded. Training does not see such batches by default: `fit` asks for length-bucketed
# ones (chapter 2), which hold sentences of similar lengths. How much of a training batch is
# padding either way? `padding_efficiency` counts the real tokens over a whole epoch:

# %%
from s2s.data import padding_efficiency

bucketed = padding_efficiency(data.loader("train", profile.batch_size))
plain = padding_efficiency(data.loader("train", profile.batch_size, bucket=False))
print(f"target slots that are <pad>: bucketed batches {1 - bucketed['tgt']:.1%}, "
      f"plain shuffled batches {1 - plain['tgt']:.1%}")

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
# 256, 1 layer, batch 128; medians of 3 rounds). These figures are **not** computed by this
# notebook: they come from one run of `python benchmarks/train_throughput.py --profile cpu` on
# the course's 2-core CI machine (AMD EPYC, torch 2.13.0+cpu) on 2026-11-24, measured in fp32,
# before training moved to bf16 (§3.12). Rerun it on yours: it now times both fp32 and `auto`.
#
# | encoder | packed (sentences/s) | padded, unpacked (sentences/s) | cost of packing |
# |---|---|---|---|
# | GRU | 5,292 | 6,441 | 18 % |
# | LSTM | 5,454 | 6,294 | 13 % |
#
# With bucketing (chapter 2) there is little padding left, so running over it wastes little —
# but the unpacked run gives wrong final states for every padded sentence. We pay the 13–18 %
# for correct states.
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
# exactly zero gradient. d2l's library loss averages over every position, padding included.
# Three things change without the mask:
#
# * part of every gradient step trains the model to predict `<pad>` after `<eos>` — an easy
#   task that says nothing about translation;
# * the sum is divided by all $B \times T$ slots instead of the real tokens, so the reported
#   loss is *diluted* by the easy pad positions and looks better than the translations are;
# * a batch with more padding contributes a smaller gradient than one with less.
#
# Within one batch, though, every real token still carries the same weight in both losses
# (the denominator is a constant of the batch), and Adam rescales gradients anyway, so we
# should not expect the mask to change *what* the model learns by much. That is a prediction;
# §3.7 measures it. Here is the same padded batch under both losses:

# %%
from s2s.train import sequence_loss

masked = sequence_loss(logits, tgt_out)
unmasked = sequence_loss(logits, tgt_out, mask=False)
pad_share = (tgt_out == 0).float().mean()
print(f"{pad_share:.0%} of tgt_out is padding; masked loss {masked:.3f}, unmasked {unmasked:.3f}")

# %% [markdown]
# At initialisation the two numbers are close: an untrained model is as unsure about `<pad>`
# as about any word. They part ways during training, as the model learns that `<pad>` follows
# `<eos>` (an easy pattern) — §3.7 trains with both losses and measures what changes.
#
# ## 3.5 Training
#
# `s2s.train.fit` is a loop you can read in one screen: teacher forcing (the decoder sees the
# true previous token), the masked loss, gradient clipping, Adam (one fused kernel), the
# forward pass in the profile's precision (bf16 here, as the first cell printed; §3.12
# explains it); every `eval_every` steps a
# validation loss, keeping the best weights and a checkpoint; early stopping. A progress bar and
# a live loss plot show while it runs in JupyterLab (they stay quiet in CI). The profile sets
# the budget: we first train for `profile.compare_steps` steps — the length of every
# side-by-side comparison in this chapter — and later resume the same run.
#
# Teacher forcing and its counterpart at inference, free running, are easiest to see side by
# side. In training (top), step $t$ reads the *true* previous word, whatever the model
# predicted, and every position has a loss. At inference (bottom) there is no true word: the
# model reads its own previous output, so one mistake is carried into every later step. The
# picture is drawn by `s2s.diagrams.teacher_forcing`:

# %%
from s2s.diagrams.teacher_forcing import teacher_forcing_vs_free_running

teacher_forcing_vs_free_running(("j'ai", "froid", "."), ("j'ai", "chaud", "."))
plt.show()

# %% [markdown]
# Now the training run. Every comparison in this chapter validates four times during its
# `compare_steps` (`eval_every`), so that its validation curve has a shape:

# %%
from dataclasses import replace

from s2s.download import cache_dir
from s2s.train import TrainConfig, fit

ckpt = cache_dir() / "models" / f"ch03-{profile.name}"
train_cfg = TrainConfig(max_steps=profile.compare_steps, lr=profile.lr,
                        batch_size=profile.batch_size,
                        eval_every=max(1, profile.compare_steps // 4), patience=None,
                        precision=profile.precision)  # "auto": see §3.12
s2s.seed_everything(0)
gru = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
history = fit(gru, data, train_cfg, device=device, checkpoint=ckpt / "gru.pt")
short_history = history  # kept: §3.9 continues this run, §3.10 compares with these steps
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


print(count_ngrams("le chat et le chat".split(), 2))

# %% [markdown]
# `Counter`'s `|` keeps the larger count of each n-gram, which is exactly the clipping bound:
# the most times the n-gram occurs in any one reference. The corpus score sums matches and
# totals over all sentences before taking the precisions:

# %%
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
# Now translate held-out sentences — distinct sources of the **valid** split, each with **all**
# its references — and score them with our BLEU, the library's copy of it, and sacrebleu run on
# the same tokens (`tokenize="none"`; `force=True` tells it we know the text is already
# tokenised). The three must agree. Why valid and not test? Everything in this chapter up to
# §3.9 is a comparison or a check, and choices are made on the valid split; the test split
# judges only the final model, once.

# %%
from sacrebleu.metrics import BLEU

from s2s.metrics import teaching_bleu
from s2s.text import detokenize, tokenize_words

groups = data.references("valid")[: profile.eval_sentences]
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

result = judge(gru, data, split="valid", max_sentences=profile.eval_sentences)
print(f"after {history.steps} steps: {result.bleu}")
print(result.examples(3))

# %% [markdown]
# ## 3.7 Without the mask, measured
#
# With bucketed batches only a sliver of the target slots is padding (§3.1), so the two
# losses would differ on almost nothing — an experiment there could not show an effect even
# if one existed. We give the mask something to do: **plain shuffled
# batches**, where a large share of the slots is padding. Two arms, identical except for the
# loss — same model, same batches, same steps — and three seeds each (a seed sets the initial
# weights and the batch order), because a difference smaller than the seed-to-seed spread is
# no difference. All arms are judged the same way: the *masked* validation loss per real
# token and BLEU on the valid split.

# %%
SEEDS = (0, 1, 2)
plain_cfg = replace(train_cfg, bucket=False)
runs = {}  # (arm, seed) -> (history, judged on valid)
for seed in SEEDS:
    for arm, mask in (("masked", True), ("unmasked", False)):
        s2s.seed_everything(seed)
        model = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
        h = fit(model, data, replace(plain_cfg, mask_loss=mask, seed=seed), device=device)
        runs[arm, seed] = h, judge(model, data, split="valid",
                                   max_sentences=profile.eval_sentences)

# %% [markdown]
# For each run: the loss it *reported* while training (the mean of its last 20 steps, each
# computed with its own loss), its masked validation loss per real token, and its BLEU. Then
# the mean and the spread (largest minus smallest) over the seeds, and the effect — the
# difference of the means — against that spread. (The cell is longer than the course's 20
# lines because the table and the check must read the same numbers; split, the check would
# sit one cell away from what it checks.)

# %% tags=["long"]
import statistics


def row(arm: str, column) -> list[float]:
    return [column(*runs[arm, seed]) for seed in SEEDS]


columns = {"train loss (reported)": lambda h, j: statistics.mean(h.step_loss[-20:]),
           "valid loss per token": lambda h, j: h.val_loss[-1],
           "valid BLEU": lambda h, j: j.bleu.score}
effects, spreads = {}, {}
for name, column in columns.items():
    m, u = row("masked", column), row("unmasked", column)
    effect = statistics.mean(u) - statistics.mean(m)
    spread = max(max(m) - min(m), max(u) - min(u))
    effects[name], spreads[name] = effect, spread
    print(f"{name:22} masked {statistics.mean(m):6.3f} (spread {max(m) - min(m):.3f})  "
          f"unmasked {statistics.mean(u):6.3f} (spread {max(u) - min(u):.3f})  "
          f"effect {effect:+.3f}: {'larger' if abs(effect) > spread else 'not larger'} "
          "than the seed spread")
if profile.expect_bleu_rnn > 0:  # profiles that train long enough to claim something
    s2s.check(-effects["train loss (reported)"] > spreads["train loss (reported)"],
              "without the mask the reported training loss is lower by more than the spread")

# %% [markdown]
# Read the three rows in turn. The first is the effect that always shows: the unmasked runs
# *report* a much lower training loss, because over a third of what they average is pad
# positions, and predicting `<pad>` after `<eos>` is easy. A loss curve computed that way
# looks better than the model is.
#
# The other two rows are the model itself, and there the mask makes no difference we can
# measure: the validation loss — masked for both arms, so directly comparable — and BLEU
# differ between the arms by less than they differ from one seed to the next (the larger of
# the two arms' spreads, as the cell compares). That is what
# §3.4 predicted: within a batch both losses weigh every real token alike, and Adam rescales
# the gradient, so the padding dilutes the *reported* number, not what is learned. For BLEU
# the margin is thin: its effect, +0.468 with the unmasked arm ahead, is larger than the
# masked arm's spread (0.180), though smaller than the unmasked arm's (0.975); three seeds
# cannot settle a difference of that size either way. The mask
# is still the right loss — it reports the truth, and it keeps batches with much padding
# from counting less — but its benefit here is honesty of the number, not a better model.
#
# The picture of all six validation curves shows the same thing over training:

# %%
fig, ax = plt.subplots(figsize=(6, 3))
for (arm, seed), (h, _) in runs.items():
    ax.plot(h.val_steps, h.val_loss, "o-" if arm == "masked" else "s--", ms=3,
            color="C0" if arm == "masked" else "C3", label=f"{arm}" if seed == 0 else None)
ax.set(xlabel="step", ylabel="valid loss per real token",
       title="Masked vs unmasked loss, plain batches, 3 seeds")
ax.legend()
plt.show()

# %% [markdown]
# ## 3.8 Teacher forcing, or feeding back the model's own predictions
#
# Teacher forcing trains the decoder on the true previous token, but at inference it sees its
# own, possibly wrong, previous output — the bottom row of the diagram in §3.5 ("exposure
# bias"). `TrainConfig(feed_back=0.25)` feeds the model its own greedy prediction instead of
# the true token at a **fixed** 25 % of positions, from the first step to the last. That is
# the simplest form of the idea, not *scheduled* sampling (Bengio et al., 2015), which starts
# at 0 % and raises the rate on a schedule as the model improves. Feeding back predictions
# needs each step's output before the next step's input, so the decoder runs step by step
# and each training step costs more. One seed, the bucketed batches and steps of §3.5:

# %%
s2s.seed_everything(0)
gru_fb = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
fb_history = fit(gru_fb, data, replace(train_cfg, feed_back=0.25), device=device)
fed_back = judge(gru_fb, data, split="valid", max_sentences=profile.eval_sentences)
print(f"{'training':24}{'valid BLEU':>11}{'valid loss':>11}{'target tok/s':>14}")
for name, h, j in [("teacher forcing", short_history, result),
                   ("fixed 25% own predictions", fb_history, fed_back)]:
    print(f"{name:26}{j.bleu.score:9.2f}{h.val_loss[-1]:11.3f}{h.tokens_per_second:14,.0f}")
print(f"BLEU difference {fed_back.bleu.score - result.bleu.score:+.2f}; seed spread of BLEU "
      f"in §3.7: {spreads['valid BLEU']:.2f}. Speed, feed-back / teacher forcing: "
      f"{fb_history.tokens_per_second / short_history.tokens_per_second:.2f}x")

# %% [markdown]
# One seed per arm, so the BLEU difference is printed next to the seed spread of BLEU in §3.7
# (measured on other batches, but the best estimate this chapter has of how far a seed moves
# BLEU after this many steps). Feeding back predictions scores lower here (3.23 against 4.36),
# by a little more than that spread (1.13 against 0.98): one seed per arm, against a spread
# measured on other batches, so this hints that it hurts at this stage; it does not measure
# by how much. Its validation loss is higher too (3.447 against 3.240), but that loss is
# computed with teacher forcing, the condition the other model trained in all the time. What
# does not depend on the seed is the cost: the step-by-step decoder got through fewer target
# tokens per second (6,259 against 8,249, 0.76x). And at this stage the
# model's own predictions are mostly wrong (the examples of §3.6), so a fixed rate from the
# first step feeds back mostly noise — which is why scheduled sampling starts at 0 %. The
# course keeps teacher forcing.
#
# ## 3.9 Training on: resume from the checkpoint
#
# Our first GRU stopped after `compare_steps` steps, with its checkpoint on disk. `fit(...,
# resume=True)` reloads weights, optimizer and history, and continues exactly where the run
# stopped: inside the same epoch, with the same batch order and the same random-number
# states, so the result is the run we would have had without the pause
# (`tests/test_resume.py` checks this step by step). It trains until the profile's total time
# budget, which counts the minutes already spent.

# %%
full_cfg = replace(train_cfg, max_steps=None, max_minutes=profile.max_train_minutes,
                   patience=3, eval_every=profile.eval_every)
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

# %% [markdown]
# The run is finished: this is the final model, and now — once — the **test** split judges
# it: every distinct test source (up to the profile's `eval_sentences`) with all its
# references.
#
# The self-check states what the profile claims of the final model, as floors that a model
# which did not learn fails: a test BLEU at the `cpu` profile, a validation loss at `ci`, both
# at `gpu`. The `ci` profile trains for seconds (fewer steps still on a busy machine); there
# BLEU is near 0 and does not even rise steadily with the steps (measured: see
# `s2s.profiles`), so no BLEU floor could both hold and catch a broken model. The loss floor
# asks that the best validation loss fell at least `expect_loss_drop` nats below $\ln V$, the
# loss of a uniform guess over the $V$ target words — about what an untrained model scores.

# %%
final = judge(gru, data, split="test", max_sentences=profile.eval_sentences)
print(f"GRU, test split, {len(final.hypotheses)} sentences: {final.bleu}")
print(final.examples(6))
if profile.expect_bleu_rnn > 0:  # 0: no BLEU claim at this profile
    s2s.check(final.bleu.score >= profile.expect_bleu_rnn,
              f"held-out BLEU {final.bleu.score:.1f} >= {profile.expect_bleu_rnn} "
              f"(profile {profile.name})")
if profile.expect_loss_drop > 0:  # 0: no loss claim at this profile
    ceiling = profile.max_val_loss(len(data.tgt_vocab))
    s2s.check(history.best_val <= ceiling,
              f"validation loss {history.best_val:.2f} <= {ceiling:.2f} = ln V - "
              f"{profile.expect_loss_drop} (V = {len(data.tgt_vocab):,}; profile {profile.name})")

# %% [markdown]
# How does the quality depend on the length of the source? Chapter 1 predicted that one
# context vector serves short inputs better than long ones. `bleu_by_length` scores the same
# test translations bucket by bucket (source length in tokens, punctuation included):

# %%
from s2s.metrics import bleu_by_length

edges = [1, 4, 6, 8, 10, profile.max_len + 1]
buckets = bleu_by_length(final, edges)
for label, n, score in buckets:
    print(f"source {label:>5} tokens: {n:5} sentences, BLEU {score:5.1f}")
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.bar([b[0] for b in buckets], [b[2] for b in buckets], color="C0")
ax.set(xlabel="source length (tokens)", ylabel="test BLEU", title="GRU seq2seq by length")
plt.show()

# %% [markdown]
# BLEU rises from the shortest sources (13.8) to its peak at 4–5 tokens (29.1) and falls
# after it: a little at 6–7 tokens (27.2), then steeply, to 19.3 at 8–9 tokens and to 13.9
# at 10–12, about the level of the shortest. The fall for long sentences is what
# chapter 1's bottleneck predicts. Read it with care, though: BLEU of very short sentences is
# itself harsh (one wrong word in a three-word sentence removes most of its n-grams), the
# shortest bucket holds only 38 sentences (the others 225 to 822), and the buckets hold
# different kinds of sentences,
# not the same sentences at different lengths. Chapter 4 compares the same buckets with and
# without attention, which is the controlled version of this question.
#
# ## 3.10 LSTM
#
# An LSTM keeps a second state, the cell `c`, beside `h`; `RNNEncoder`/`RNNDecoder` take
# `cell="lstm"` and carry `(h, c)` pairs. Same budget as the first GRU run:

# %%
s2s.seed_everything(0)
lstm = build_model(config("lstm"), data.src_vocab, data.tgt_vocab)
lstm_history = fit(lstm, data, train_cfg, device=device)
lstm_result = judge(lstm, data, split="valid", max_sentences=profile.eval_sentences)
print(f"after {profile.compare_steps} steps, valid split: GRU {result.bleu.score:.2f} BLEU, "
      f"LSTM {lstm_result.bleu.score:.2f} BLEU")
print(f"training throughput in these runs: GRU {short_history.tokens_per_second:,.0f} "
      f"tok/s, LSTM {lstm_history.tokens_per_second:,.0f} tok/s")

# %% [markdown]
# After `compare_steps` steps the LSTM is well behind the GRU on the valid split (1.37
# against 4.36 BLEU), by more than the seed spread of BLEU in §3.7 (0.98). That is the start
# of training, one seed each; it says nothing about which cell ends better after longer
# training, which this chapter does not measure. In these two runs the LSTM got through more
# target tokens per second than the GRU (9,551 against 8,249, validation included). Read that
# with the same care: it is one run each, the GRU's run also wrote its checkpoint at every
# validation while the LSTM's wrote none, and §3.12 prints the same GRU, trained with seed 1
# and no checkpoint, at 9,288 tok/s — two runs of one cell differ by about as much as the two
# cells do here. These runs do not rank the cells' speed; `benchmarks/train_throughput.py`
# times the training step of both, in fp32 and in `auto`, the models taking turns within
# each round so that a slow moment of the machine does not fall on one of them only.
#
# ## 3.11 Save, load, translate
#
# `fit` already wrote the best GRU to its checkpoint: weights, config and both vocabularies.
# `load_checkpoint` reads it with `torch.load(weights_only=True)` (no arbitrary code runs) and
# rebuilds the model; given the data's vocabularies, it refuses a checkpoint trained on other
# data instead of translating garbage.

# %%
from s2s.checkpoints import load_checkpoint

loaded = load_checkpoint(ckpt / "gru.pt", src_vocab=data.src_vocab, tgt_vocab=data.tgt_vocab,
                         device=device)
sentences = ["I am cold.", "Where is the station?", "She reads a book every day."]
s2s.check(s2s.translate(loaded, sentences) == s2s.translate(gru, sentences),
          "the loaded model translates exactly like the trained one")

# %% [markdown]
# A demo sentence tells us something about the model only if the model never saw it. These
# three were typed by hand, not drawn from the test split, so we look each one up in the
# training sources (after the same tokenisation) and say which it is:

# %%
from s2s.text import tokenize_words

train_sources = {tuple(src) for src, _ in data.splits.train}
for sentence, translation in zip(sentences, s2s.translate(loaded, sentences), strict=True):
    seen = tuple(tokenize_words(sentence)) in train_sources
    print(f"{sentence:30} -> {translation:38} [{'in training' if seen else 'held out'}]")
variant = tuple(tokenize_words("I'm cold."))
print(f"and the contraction {' '.join(variant)!r}: "
      f"{'in training' if variant in train_sources else 'not in training'}")

# %% [markdown]
# Two of the three translations are right, and neither shows much. *où est la gare?* is
# right, but its source is marked *in training*: that is a memory test, not a translation
# test. *j'ai froid.* is right too, but *held out* here means only that the exact tokenised
# sentence is not a training source: the contraction *I'm cold.* is one (printed above), so
# *I am cold.* is a near neighbour of a training sentence, not a new one. The third, also
# held out, comes out wrong: *elle lui a un livre à la journée.* does not say "she reads a
# book every day" (*elle lit un livre tous les jours.* would). Three sentences say little
# either way; the test BLEU of §3.9 is the measurement.
#
# Bad input gets a clear answer, not a crash deep inside PyTorch:

# %%
for bad in ["", 42]:
    try:
        s2s.translate(loaded, [bad])
    except (TypeError, ValueError) as err:
        print(f"{bad!r}: {type(err).__name__}: {err}")

# %% [markdown]
# ## 3.12 Mixed precision: the same model in 16-bit arithmetic
#
# The final model's budget (§3.9) is counted in minutes, so a faster training step buys more
# steps in the same time. The largest lever left is the number format. By default a network
# computes in
# **fp32**: 1 sign bit, 8 exponent bits (the range, up to about $3 \times 10^{38}$) and 23
# mantissa bits (about 7 significant digits). Two 16-bit formats halve the bytes to move and,
# on hardware built for them, run matrix products several times faster:
# **bf16** keeps fp32's 8 exponent bits and keeps only 7 of the mantissa; **fp16** has 5
# exponent bits and 10 of mantissa. The layouts, drawn to scale:

# %%
formats = {"fp32": (8, 23), "bf16": (8, 7), "fp16": (5, 10)}
fig, ax = plt.subplots(figsize=(7, 1.8))
for row, (exp, man) in enumerate(formats.values()):
    parts = [("sign", 1, "C3"), ("exponent", exp, "C1"), ("mantissa", man, "C0")]
    x = 0
    for part, bits, color in parts:
        ax.barh(row, bits, left=x, color=color, edgecolor="white",
                label=part if row == 0 else None)
        ax.text(x + bits / 2, row, str(bits), ha="center", va="center", color="white")
        x += bits
ax.set(yticks=range(3), yticklabels=list(formats), xlabel="bits", xlim=(0, 32))
ax.invert_yaxis()
ax.legend(ncol=3, loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# What the missing bits cost, on four numbers: a third (precision), a small gradient-sized
# value, a tiny one, and a large one. Each is rounded to the format and printed back:

# %%
# NBVAL_CHECK_OUTPUT
values = torch.tensor([1 / 3, 1e-6, 1e-8, 70000.0])
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    rounded = values.to(dtype).float().tolist()
    print(f"{str(dtype).removeprefix('torch.'):9}", "  ".join(f"{v:<12.6g}" for v in rounded))

# %% [markdown]
# bf16 keeps every number's size but only about three digits of it ($1/3$ becomes
# 0.333984). fp16 keeps more digits but loses both ends of the range: $10^{-8}$ becomes 0 and
# 70,000 becomes infinity. That is why training in fp16 needs a **gradient scaler** — the
# loss is multiplied by a large factor before the backward pass so that small gradients do
# not round to 0, and the gradients are divided by it before the optimizer step (a step
# whose gradients overflow is skipped and the factor lowered) — while bf16 needs none.
#
# Mixed precision does not store the model in 16 bits. The weights, Adam's moments, the
# loss and the checkpoints stay fp32; only the forward pass runs inside `torch.autocast`,
# which casts the inputs of matrix products (and of the LSTM's fused kernel) to 16 bits and
# leaves the rest in the type it receives. The loss is computed outside it, in fp32, from the
# logits cast back to fp32, because it is a mean over thousands of tokens whose small
# differences are the training signal; the validation loss is fp32 too. `fit` does
# this for `TrainConfig(precision=...)`: `fp32`, `bf16`, `fp16` (with a scaler) or `auto`,
# the profiles' setting, which picks by hardware — bf16 on a CPU with native bf16
# instructions, like this one (the first cell printed the choice). Inside `autocast`, the
# model's logits come out in bf16 and the loss is fp32:

# %%
from s2s.precision import autocast
from s2s.train import sequence_loss

batch = next(iter(data.loader("valid", 4)))  # (src, src_len, tgt_in, tgt_out)
with torch.no_grad(), autocast("bf16", device):
    half_logits = gru(batch[0].to(device), batch[1], batch[2].to(device))
print(f"weights {next(gru.parameters()).dtype}, logits {half_logits.dtype} "
      f"{tuple(half_logits.shape)}, loss "
      f"{sequence_loss(half_logits.float(), batch[3].to(device)).dtype}")

# %% [markdown]
# Does the lost precision cost quality, and what does the speed buy? Two arms identical
# except for the precision — the same model, the same initial weights and batches (one seed
# sets both), `compare_steps` steps — for two seeds, judged by the validation loss (always
# computed in fp32). §3.5's first run is the bf16 run of seed 0 when `auto` chose bf16, as
# here; the other runs are new. A third arm gives bf16 the *time* that fp32 took for its
# steps.

# %%
arms = {("bf16", 0): short_history} if short_history.precision == "bf16" else {}
for seed in (0, 1):
    for precision in ("fp32", "bf16"):
        if (precision, seed) not in arms:
            s2s.seed_everything(seed)
            model = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
            arms[precision, seed] = fit(model, data, replace(
                train_cfg, precision=precision, seed=seed), device=device)
s2s.seed_everything(0)
model = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
equal_time = fit(model, data, replace(train_cfg, max_steps=None, precision="bf16",
                                      max_minutes=arms["fp32", 0].seconds / 60), device=device)

# %% [markdown]
# The table: for each run its steps, seconds, throughput and final validation loss; then the
# relative loss difference between the precisions at each seed, against the difference
# between the two seeds in fp32:

# %%
for (precision, seed), h in sorted(arms.items(), key=lambda item: (item[0][1], item[0][0])):
    print(f"{precision} seed {seed}: {h.steps} steps, {h.seconds:5.1f} s, "
          f"{h.tokens_per_second:7,.0f} tok/s, valid loss {h.val_loss[-1]:.4f}")
print(f"bf16 seed 0, fp32's time: {equal_time.steps} steps, {equal_time.seconds:5.1f} s, "
      f"valid loss {equal_time.val_loss[-1]:.4f}")
gaps = [arms["bf16", s].val_loss[-1] / arms["fp32", s].val_loss[-1] - 1 for s in (0, 1)]
seed_gap = abs(arms["fp32", 1].val_loss[-1] / arms["fp32", 0].val_loss[-1] - 1)
speedup = arms["fp32", 0].seconds / arms["bf16", 0].seconds
print(f"bf16 vs fp32 at equal steps: {gaps[0]:+.2%} (seed 0), {gaps[1]:+.2%} (seed 1); "
      f"seed 0 vs seed 1 in fp32: {seed_gap:.2%}; bf16 ran {speedup:.2f}x as fast")
s2s.check(max(map(abs, gaps)) <= max(0.02, seed_gap),
          "at equal steps bf16's validation loss is within 2 % (or the seed spread) of fp32's")

# %% [markdown]
# Read the table in two directions. **At equal steps** the precisions end close together: on
# this run bf16 finished 0.43 % above fp32 with seed 0 and 1.61 % below it with seed 1 —
# one up, one down, each about as large as the gap between fp32's two seeds (1.52 %) or
# smaller. On this evidence, rounding to three digits inside the forward pass acts like a
# small change of seed, not like a systematic loss; with two seeds we cannot resolve a
# difference smaller than that. **At equal time** is what mixed precision is for: given the
# 44.1 s that fp32 needed for 300 steps, bf16 got through 415 steps (46.4 s with the
# validation that ends its run) and reached a validation loss of 2.8789 against fp32's
# 3.2259.
#
# The whole-run speed-up printed here, 1.17×, understates the training step's own: a run also
# validates (always in fp32) and loads batches, which bf16 does not speed up, and the bf16
# run of seed 0 — §3.5's — also wrote its checkpoint at every validation, which the fp32
# run did not. Seed 1, where neither run wrote one, took 33.0 s in bf16 against 42.1 s in fp32.
# `benchmarks/train_throughput.py` times the step itself in fp32 and in `auto`, for the
# GRU, the LSTM and chapter 4's attention models. Its run on this machine the same day
# (`--profile cpu`, recorded in `benchmarks/README.md`) gave the GRU's step 1.29× in
# bf16, the LSTM's 1.40× (PyTorch runs the LSTM, not the GRU, as one fused oneDNN kernel on
# a CPU), and, for Luong trained 300 steps from one seed in each precision, validation losses
# 0.42 % apart. The gain depends on the hardware: this machine's processor
# has native bf16 instructions, so `auto` chose bf16; on a processor without them, bf16
# would be emulated in software (not measured in this course), and `auto` stays in fp32.
# On a GPU `auto` chooses fp16 with
# a scaler where the GPU has no bf16 (Colab's T4), and fp32 where it has (an A100, an H100):
# at the `gpu` profile's sizes an H100's step is bound by launching kernels, not by
# arithmetic, and bf16 autocast measured slower there (figures reported in issue 15 of the
# course repository, quoted in the README).

# %% [markdown]
# ## Exercises
#
# Four exercises, graded with nbgrader (see `homework/README.md`): the coding exercises
# by the test cell under them (the visible tests, plus hidden ones when graded), the written
# answers by hand. Points are in each cell's nbgrader metadata and in the headings.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_code_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 1 (coding, 2 points).** Write the masked loss by hand: per-position
# cross-entropy (`reduction="none"`), zero where `tgt_out` is `<pad>`, averaged over the real
# tokens. It must equal `sequence_loss`.

# %% nbgrader={"grade": false, "grade_id": "ex1_code_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
import torch.nn.functional as F


def my_masked_loss(logits: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    per_token = F.cross_entropy(logits.transpose(1, 2), tgt_out, reduction="none")  # (B, T)
    mask = (tgt_out != 0).float()
    return (per_token * mask).sum() / mask.sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_code_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import torch.nn.functional as reference_functional  # the tests' own names: rebinding

from s2s.train import sequence_loss as reference_loss  # sequence_loss or F changes nothing

_logits = torch.randn(3, 5, 11)
_tgt = torch.tensor([[4, 5, 3, 0, 0], [6, 3, 0, 0, 0], [7, 8, 9, 10, 3]])
assert torch.allclose(my_masked_loss(_logits, _tgt), reference_loss(_logits, _tgt))
### BEGIN HIDDEN TESTS
_real = logits.detach()
assert torch.allclose(my_masked_loss(_real, tgt_out), reference_loss(_real, tgt_out))
# the mean over real tokens (not rows' means, not all slots); pads' logits never count
_uneven, _l = torch.tensor([[4, 3, 0, 0, 0, 0], [5, 6, 7, 8, 9, 3]]), torch.randn(2, 6, 11)
assert torch.allclose(my_masked_loss(_l, _uneven), reference_loss(_l, _uneven))
_noisy = torch.cat([_l[:1, :2], 1e3 * torch.randn(1, 4, 11)], dim=1)
assert torch.allclose(my_masked_loss(torch.cat([_noisy, _l[1:]]), _uneven),
                      my_masked_loss(_l, _uneven))
_full, _f = torch.tensor([[4, 5, 3], [6, 7, 3]]), _l[:, :3]
assert torch.allclose(my_masked_loss(_f, _full), reference_functional.cross_entropy(
    _f.reshape(-1, 11), _full.reshape(-1)))
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_code_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 2 (coding, 2 points).** Write `brevity_penalty(c, r)` for a corpus with
# hypothesis length `c` and reference length `r` (§3.6): 1 when the hypotheses are longer
# than the references, $e^{1 - r/c}$ otherwise.

# %% nbgrader={"grade": false, "grade_id": "ex2_code_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def brevity_penalty(c: int, r: int) -> float:
    ### BEGIN SOLUTION
    return 1.0 if c > r else math.exp(1 - r / c)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_code_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert brevity_penalty(10, 8) == 1.0
assert abs(brevity_penalty(5, 10) - math.exp(-1)) < 1e-12
### BEGIN HIDDEN TESTS
from math import exp as reference_exp  # the tests' own name

assert brevity_penalty(10, 10) == 1.0
assert brevity_penalty(1, 8) < 0.001
# lengths that do not divide (r // c would pass every case above)
for _c, _r in ((4, 10), (3, 7), (7, 9), (9, 10), (2, 3)):
    assert abs(brevity_penalty(_c, _r) - reference_exp(1 - _r / _c)) < 1e-12, (_c, _r)
assert brevity_penalty(11, 10) == 1.0 and brevity_penalty(1000, 1) == 1.0
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_concept_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 3 (written answer, 2 points).** A system outputs only the first word of every
# translation, and that word is always right. Explain, in three or four sentences, why its
# BLEU is low anyway: what happens to each of BLEU's n-gram precisions, and what does your
# `brevity_penalty` give when the references average 8 tokens? Why does BLEU need a brevity
# penalty at all, when it already measures precision?

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex3_concept_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* Its unigram precision is perfect (every word it writes is in the
# reference), but a one-word output contains no bigrams, trigrams or 4-grams, so those
# precisions are scored 0 (sacrebleu's default smoothing only helps n-gram orders that the
# output contains) and their geometric mean — BLEU's core — collapses.
# The brevity penalty punishes the shortness on its own: the hypotheses total one token per
# sentence against eight in the references, so BP $= e^{1 - 8} \approx 0.0009$
# (`brevity_penalty(1, 8)`), whatever the precisions. BLEU needs it because precision alone
# rewards saying less: a system that writes only the words it is sure of scores high
# precision while leaving most of the meaning out, and BLEU has no recall term — the penalty
# for a corpus shorter than its references stands in for one.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_experiment_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 4 (experiment, 1 + 2 points).** Which part of the model has the most parameters?
# Write `parameter_share(model)` returning a dict from each top-level part of the decoder
# (`embedding`, `rnn`, `out`) and of the encoder (`encoder`) to its share of all parameters,
# and run it on the trained GRU model (the cell prints the shares). Then, in the cell after
# the tests: which parts hold most of the parameters, and what does that say about where a
# CPU spends its time in a training step? (Hint: the embedding is a table lookup, while `out`
# multiplies all of its weights once per target token.)

# %% nbgrader={"grade": false, "grade_id": "ex4_experiment_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def parameter_share(model) -> dict[str, float]:
    ### BEGIN SOLUTION
    total = sum(p.numel() for p in model.parameters())
    parts = {"encoder": model.encoder, "embedding": model.decoder.embedding,
             "rnn": model.decoder.rnn, "out": model.decoder.out}
    return {k: sum(p.numel() for p in m.parameters()) / total for k, m in parts.items()}
    ### END SOLUTION


print({k: f"{v:.0%}" for k, v in parameter_share(gru).items()})

# %% nbgrader={"grade": true, "grade_id": "ex4_experiment_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_shares = parameter_share(gru)
assert abs(sum(_shares.values()) - 1) < 1e-6
### BEGIN HIDDEN TESTS
assert set(_shares) == {"encoder", "embedding", "rnn", "out"}
# each share counted from the model itself (a dict with the right keys and sum is not enough)
_total = sum(p.numel() for p in gru.parameters())
_parts = {"encoder": gru.encoder, "embedding": gru.decoder.embedding, "rnn": gru.decoder.rnn,
          "out": gru.decoder.out}
for _name, _part in _parts.items():
    _want = sum(p.numel() for p in _part.parameters()) / _total
    assert abs(_shares[_name] - _want) < 1e-9, _name
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex4_experiment_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer* (from the shares printed above, at the `cpu` profile). The two parts whose
# size is the target vocabulary hold most of the model: the decoder's embedding and its
# output layer `out` have 32 % each, the encoder 27 %, and the decoder's GRU — the part that
# carries the sentence from step to step — only 10 %. Parameters are not time, though: the
# embedding costs one row lookup per token, while `out` multiplies every one of its weights
# for every target token, three times the GRU's share of weights (32 % against 10 %). So the
# output layer, a `(tokens, hidden) × (hidden, vocabulary)` product, is where a training step
# spends most of its arithmetic; a smaller target vocabulary (or subwords) is the lever that
# moves it, not a smaller GRU.
