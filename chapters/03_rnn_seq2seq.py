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
# 2. what the masked loss changes in the number a training run reports, and how to ask
#    whether it changes the model: two arms, three seeds each, with plenty of padding so that
#    the mask has something to do — and how to tell a difference from seed-to-seed noise (the
#    mean, the spread, a bootstrap interval and a permutation test, by hand and then with
#    `s2s.metrics`);
# 3. a training loop with teacher forcing, clipping, validation, keep-the-best and resuming,
#    and how to test whether feeding back the model's own predictions changes anything;
# 4. greedy decoding, BLEU from scratch, and corpus BLEU with sacrebleu — where settings are
#    compared on the **valid** split and only the final model is judged on **test**;
# 5. how to save a model, load it, and translate raw sentences;
# 6. what mixed precision (bf16, fp16) keeps and loses, and what it changes in a training
#    run's speed and quality (§3.12).
#
# Small live runs in this chapter show each mechanism; they are too short and too few to
# decide a comparison. Each of its three design comparisons (the masked loss, feeding back
# predictions, GRU or LSTM) is decided by a committed experiment (three seeds per arm,
# thousands of steps, in `experiments/`), which the chapter cites.
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
# both ways on the same real, bucketed batches; run `python benchmarks/train_throughput.py
# --profile cpu` to see what packing costs on your machine.
#
# With bucketing (chapter 2) there is little padding left, so running over it wastes little —
# but the unpacked run gives wrong final states for every padded sentence. We pay what packing
# costs for correct states.
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
# §3.7 cites the experiment that tests it. Here is the same padded batch under both losses:

# %%
from s2s.train import sequence_loss

masked = sequence_loss(logits, tgt_out)
unmasked = sequence_loss(logits, tgt_out, mask=False)
pad_share = (tgt_out == 0).float().mean()
print(f"{pad_share:.0%} of tgt_out is padding; masked loss {masked:.3f}, unmasked {unmasked:.3f}")

# %% [markdown]
# At initialisation the two numbers are close: an untrained model is as unsure about `<pad>`
# as about any word. They part ways during training, as the model learns that `<pad>` follows
# `<eos>` (an easy pattern) — §3.7 trains with both losses and compares what they report.
#
# ## 3.5 Training
#
# `s2s.train.fit` is a loop you can read in one screen: teacher forcing (the decoder sees the
# true previous token), the masked loss, gradient clipping, Adam (one fused kernel), the
# forward pass in the profile's precision (the first cell printed which one this machine
# gets; §3.12 explains it); every `eval_every` steps a
# validation loss, keeping the best weights and a checkpoint; early stopping. A progress bar and
# a live loss plot show while it runs in JupyterLab (they stay quiet in CI). The profile sets
# the budget: we first train for `profile.compare_steps` steps — the length of every
# side-by-side comparison in this chapter — and later resume the same run.
#
# Teacher forcing and its counterpart at inference, free running, are easiest to see side by
# side. The picture below unrolls the decoder on the reference *j'ai froid .* — $T = 3$
# words (the tokenizer keeps *j'ai* whole), then `<eos>`: four steps. In training (top), step
# $t$ reads the *true* previous word $y_{t-1}$, whatever the model predicted, and every one of
# the four positions has a loss term. At inference (bottom) there is no true word: the model
# reads its own previous output. Here it writes *chaud* where the reference has *froid*, and
# *chaud* becomes the input of the next step, so every later step (outlined in red) is
# conditioned on the mistake — even where, as here, the words it writes next are right. In
# training the decoder never read a wrong word of its own; that mismatch is called *exposure
# bias*. The picture is drawn by `s2s.diagrams.teacher_forcing`:

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
# totals over all sentences before taking the precisions. The function stops short of the
# brevity penalty — writing it is Exercise 2 — and returns the two lengths the penalty needs,
# $c$ and $r$ (for each sentence, the reference closest in length, the shorter on a tie):

# %%
def my_bleu_parts(hypotheses: list[list[str]],
                  references: list[list[list[str]]]) -> tuple[float, int, int]:
    """BLEU before its brevity penalty: (100 x the geometric mean of the clipped precisions,
    c, r). The penalty itself is Exercise 2's."""
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
        return 0.0, c, r
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / 4
    return 100 * math.exp(log_p), c, r


# %% [markdown]
# Now translate held-out sentences — distinct sources of the **valid** split, each with **all**
# its references — and score them with our BLEU, the library's copy of it, and sacrebleu run on
# the same tokens (`tokenize="none"`; `force=True` tells it we know the text is already
# tokenised). The three must agree: our lengths and precisions, with the brevity penalty
# borrowed from sacrebleu until Exercise 2 writes it, give sacrebleu's score. Why valid and not
# test? Everything in this chapter up to §3.9 is a comparison or a check, and choices are made
# on the valid split; the test split judges only the final model, once. (The cell is longer
# than the course's 20 lines because the check must read the same numbers it prints.)

# %% tags=["long"]
from sacrebleu.metrics import BLEU

from s2s.metrics import teaching_bleu
from s2s.text import detokenize, tokenize_words

groups = data.references("valid")[: profile.eval_sentences]
sources = [detokenize(src) for src, _ in groups]
references = [[detokenize(r) for r in refs] for _, refs in groups]
hypotheses = s2s.translate(gru, sources)
hyp_tok = [tokenize_words(h) for h in hypotheses]
ref_tok = [[tokenize_words(r) for r in refs] for refs in references]
no_penalty, c, r = my_bleu_parts(hyp_tok, ref_tok)
width = max(map(len, ref_tok))
streams = [[" ".join(rs[k]) if k < len(rs) else None for rs in ref_tok] for k in range(width)]
scored = BLEU(tokenize="none", smooth_method="none", force=True).corpus_score(
    [" ".join(h) for h in hyp_tok], streams)
print(f"c = {c:,} (sacrebleu: {scored.sys_len:,}), r = {r:,} (sacrebleu: {scored.ref_len:,}), "
      f"sacrebleu's brevity penalty {scored.bp:.4f}")
ours, theirs = no_penalty * scored.bp, scored.score
print(f"from scratch (with sacrebleu's penalty) {ours:.3f} | s2s.metrics.teaching_bleu "
      f"{teaching_bleu(hyp_tok, ref_tok):.3f} | sacrebleu on the same tokens {theirs:.3f}")
s2s.check((c, r) == (scored.sys_len, scored.ref_len) and abs(ours - theirs) < 1e-6
          and abs(theirs - teaching_bleu(hyp_tok, ref_tok)) < 1e-6,
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
# **One model, two BLEU scores.** Compare the score above with the from-scratch BLEU two
# cells earlier: the same translations of the same sentences against the same references,
# yet the two numbers differ. Neither is wrong; they count different tokens. Our BLEU
# counted the *tokenizer's* tokens (`tokenize_words`: lower-cased text split at spaces, with
# `, . ! ?` split off). sacrebleu never sees those: it takes the detokenised text and splits
# it again with its own standard tokeniser, `13a` (the `tok:13a` of the signature), which
# splits off more characters — among them `<` and `>`, so every `<unk>` the model writes
# becomes three tokens, `< unk >`, none of which occurs in a reference. A reference can
# change too (13a also splits quotes and `$` off their words). The signature names a second
# difference, `smooth:exp`: sacrebleu's default smoothing, which changes the score only when
# some n-gram order has no match at all in the whole corpus. The cell takes the two steps one
# at a time: it counts the translations that the two tokenisers split differently, shows one,
# and scores the translations three ways, from our BLEU to `judge`'s:

# %%
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

split_13a = Tokenizer13a()  # what sacrebleu's BLEU(tokenize="13a") applies to every line
s2s.check(result.hypotheses == hypotheses and result.references == references,
          "judge scored the same translations against the same references as our BLEU")
differ = [h for h in hypotheses if split_13a(h).split() != tokenize_words(h)]
n_unk = sum(token == "<unk>" for h in hyp_tok for token in h)
print(f"{len(differ)} of {len(hypotheses)} translations split differently; "
      f"they hold {n_unk} <unk> in all")
if differ:
    print(f"e.g. tokenizer: {tokenize_words(differ[0])}\n     13a:       "
          f"{split_13a(differ[0]).split()}")
n_13a = sum(len(split_13a(h).split()) for h in hypotheses)
print(f"translation tokens: {sum(map(len, hyp_tok)):,} for the tokenizer, {n_13a:,} for 13a")
ref_streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
no_smoothing = BLEU(smooth_method="none").corpus_score(hypotheses, ref_streams).score
print(f"BLEU on the tokenizer's tokens, no smoothing (ours) {ours:.3f} -> on 13a's tokens, no "
      f"smoothing {no_smoothing:.3f} -> 13a with exp smoothing (judge) {result.bleu.score:.3f}")

# %% [markdown]
# The first arrow is the tokenisation alone, the second the smoothing alone (no change unless
# an n-gram order had no match). Which number to report? The one a reader can reproduce:
# sacrebleu on detokenised text, with its signature. BLEU computed on a model's own tokens
# depends on that tokenizer — a tokenizer that splits more words apart, or writes `<unk>` as
# one token or three, moves the score without changing a single translation — so such scores
# do not compare across systems. From here on every BLEU in the course is `judge`'s.

# %% [markdown]
# ## 3.7 Without the mask, measured
#
# With bucketed batches only a sliver of the target slots is padding (§3.1), so the two
# losses would differ on almost nothing — an experiment there could not show an effect even
# if one existed. We give the mask something to do: **plain shuffled
# batches**, where a large share of the slots is padding. Two arms, identical except for the
# loss — same model, same batches, same steps — and three seeds each (a seed sets the initial
# weights and the batch order), because runs that differ only in their seed already score
# differently, and an effect must be told apart from that. All arms are judged the same way:
# the *masked* validation loss per real token and BLEU on the valid split.
#
# The live version below trains each run for `compare_steps` steps, as §3.5 did: enough to
# show the mechanism and the tools, **too short to decide** whether the mask changes the
# model. The experiment that decides it is committed, and cited at the end of the section.

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
# For each run, seed by seed: the loss it *reported* while training (the mean of its last 20
# steps, each computed with its own loss), its masked validation loss per real token, and
# its valid BLEU:

# %%
import statistics

columns = {"train loss (reported)": lambda h, j: statistics.mean(h.step_loss[-20:]),
           "valid loss per token": lambda h, j: h.val_loss[-1],
           "valid BLEU": lambda h, j: j.bleu.score}
scores = {(name, arm): [column(*runs[arm, seed]) for seed in SEEDS]
          for name, column in columns.items() for arm in ("masked", "unmasked")}
print(f"{'seeds ' + ', '.join(map(str, SEEDS)):>22}  {'masked':^26}  {'unmasked':^26}")
for name in columns:
    print(f"{name:22}  " + "  ".join(" ".join(f"{v:8.3f}" for v in scores[name, arm])
                                     for arm in ("masked", "unmasked")))

# %% [markdown]
# The first row is about the *number*, not the model. The unmasked runs average their loss
# over the pad positions too — the share of plain batches that §3.1 printed — and predicting
# `<pad>` after `<eos>` soon becomes easy, so the loss they report falls below the masked
# runs' (the cell that applies `seed_difference` to all three rows checks it at the profiles
# that train long enough). A loss
# curve computed that way looks better than the model is. The other two rows measure the
# model itself, the same way for both arms. Do the arms differ there, or only the seeds? The
# question needs a few tools.
#
# ### Telling a difference from noise
#
# Take one row, valid BLEU, and one arm's three numbers. Three summaries describe them: the
# **mean**; the **spread**, as the standard deviation (with $n - 1$ in its denominator, the
# usual estimate from a sample) or simply as the largest minus the smallest; and how sure we
# can be of the mean. For the last, the **bootstrap** pretends that the seeds we ran are all
# the seeds there are: it draws three of them *with replacement*, 10,000 times, takes the
# mean of each draw, and reports the range holding the middle 95 % of those means — a 95 %
# interval of the mean. By hand, with numpy:

# %%
import numpy as np

m = np.array(scores["valid BLEU", "masked"])
print("masked arm, valid BLEU by seed:", m.round(3))
print(f"mean {m.mean():.3f}, standard deviation {m.std(ddof=1):.3f}, "
      f"largest - smallest {m.max() - m.min():.3f}")
rng = np.random.default_rng(0)
draws = rng.integers(len(m), size=(10_000, len(m)))  # 10,000 draws of 3 seeds' positions
means = m[draws].mean(axis=1)  # the mean of each draw
low_m, high_m = np.percentile(means, [2.5, 97.5])
print(f"bootstrap 95 % interval of the mean: [{low_m:.3f}, {high_m:.3f}]")

# %% [markdown]
# Three seeds allow only ten different draws (which seeds, how many times each), so this
# interval can never reach past the smallest or the largest seed's score: from so few runs it
# is a rough interval, and an optimistic one — never run fewer than three seeds.
#
# Now the question itself: the difference of the arms' means, unmasked minus masked. Its
# bootstrap interval resamples each arm's seeds separately and takes the difference of the
# two means, 10,000 times; if the interval lies wholly on one side of 0, the arms differ by
# more than their seeds explain. The **permutation test** asks the same question another
# way. If the mask changed nothing, the labels "masked" and "unmasked" would be arbitrary:
# any three of the six runs could have carried the label "unmasked". There are
# $\binom{6}{3} = 20$ ways to choose them; for each we compute the difference of the means,
# and the p-value is the share of the 20 that lie at least as far from 0 as the difference
# we observed:

# %%
from itertools import combinations

u = np.array(scores["valid BLEU", "unmasked"])
observed = u.mean() - m.mean()
rng = np.random.default_rng(0)
boot = (u[rng.integers(len(u), size=(10_000, len(u)))].mean(axis=1)
        - m[rng.integers(len(m), size=(10_000, len(m)))].mean(axis=1))
low_d, high_d = np.percentile(boot, [2.5, 97.5])
pooled = np.concatenate([u, m])  # the six runs; any three of them may be "unmasked"
relabelled = [pooled[list(chosen)].mean() - np.delete(pooled, list(chosen)).mean()
              for chosen in combinations(range(len(pooled)), len(u))]
p = np.mean(np.abs(relabelled) >= abs(observed) - 1e-12)  # a hair for rounding
print(f"unmasked - masked: {observed:+.3f} BLEU, bootstrap 95 % interval "
      f"[{low_d:+.3f}, {high_d:+.3f}]; permutation p = {p:.2f} over {len(relabelled)} "
      "labellings")

# %% [markdown]
# Why three seeds cannot prove much with this test: even if every unmasked run scored above
# every masked one, two of the 20 labellings would be that extreme — the observed one and its
# mirror image, which swaps the arms and gives the same difference with its sign flipped. So
# the smallest p-value that 3 + 3 seeds can give is 2/20 = 0.1, never below the customary
# 0.05: the test can say that the seeds do not separate the arms, but not that three seeds
# establish a difference. That is why the course's experiment reports decide with the
# bootstrap interval — a difference is *shown* when its 95 % interval excludes 0 — and print
# the permutation p-value beside it, as a reminder of how little three seeds can prove. The
# rule is a convention, and with so few seeds a lenient one (the interval is rough, as we
# saw); its verdict is "shown" or "not shown", not the size of an effect.
#
# `s2s.metrics` has both computations: `seed_spread` for one arm, `seed_difference` for two
# (baseline first; it enumerates every labelling when there are few). With the same random
# generator they must give exactly our numbers:

# %%
from s2s.metrics import seed_difference, seed_spread

spread = seed_spread(m.tolist())
difference = seed_difference(m.tolist(), u.tolist())  # system (unmasked) - baseline (masked)
print(spread)
print(difference)
s2s.check(np.allclose([spread.mean, spread.std, spread.low, spread.high],
                      [m.mean(), m.std(ddof=1), low_m, high_m])
          and np.allclose([difference.difference, difference.low, difference.high,
                           difference.p_value], [observed, low_d, high_d, p]),
          "seed_spread and seed_difference give the numbers computed by hand")
print(f"the smallest p-value {len(m)} + {len(u)} seeds allow: {difference.smallest_p:.2f}")

# %% [markdown]
# Now the tools at work on all three rows of the live runs. Remember what those runs are:
# `compare_steps` steps each, a look at the start of training — whatever the intervals say,
# they are **too short to decide** what the mask does to the model:

# %%
for name in columns:
    d = seed_difference(scores[name, "masked"], scores[name, "unmasked"])
    print(f"{name:22} unmasked - masked {d.difference:+7.3f}, 95 % interval "
          f"[{d.low:+7.3f}, {d.high:+7.3f}], p = {d.p_value:.2f}: the interval "
          f"{'excludes' if d.excludes_zero() else 'includes'} 0")
print(f"live runs of {profile.compare_steps} steps: too short to decide about the model")
if profile.expect_bleu_rnn > 0:  # profiles that train long enough to claim something
    reported = seed_difference(scores["train loss (reported)", "masked"],
                               scores["train loss (reported)", "unmasked"])
    s2s.check(reported.high < 0, "without the mask the reported training loss is lower "
              "(its whole interval lies below 0)")

# %% [markdown]
# The validation curves of the six live runs, to see how far they still fall when they stop:

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
# ### The experiment that decides
#
# `experiments/ch03_mask.toml` declares the same two arms on plain shuffled batches, at a
# size a CPU can train for long: a small GRU on short sentences, three seeds per arm, 8,000
# steps per run, judged by greedy BLEU on the first 500 distinct sources of the valid split;
# the masked arm is the control. `python -m s2s.experiments run ch03_mask` trains it (it
# resumes where it stopped) and writes `results/ch03_mask.json`. `cite` reads that file and
# checks it against its declaration and this code's version first: a file that is missing, or
# was made with other settings, raises an error naming the command that remakes it. Printed,
# a citation gives where the result came from and its report: per arm the mean, standard
# deviation and bootstrap interval over seeds; each run's *last-quarter gain*, the relative
# rise of its BLEU over the last quarter of its steps, flagged when it is 10 % or more (that
# arm had not finished learning, so comparing it would rank speed of learning, not where the
# arms end up); and the deciding test, `seed_difference` against the control.
#
# Two helpers, used for all three experiments of the chapter: `design` prints the settings
# the control arm trained with (read from the results file), and `verdict` turns the deciding
# test into one sentence, with the still-learning flags. (The cell is longer than the course's
# 20 lines because the two belong together: §3.8 and §3.10 read their experiments with both.)

# %% tags=["long"]
def design(citation) -> str:
    """The control arm's settings, from the results file, in one line."""
    results = citation.results
    run = next(r for r in results["runs"] if r["arm"] == results["control"])
    model, train, data_cfg = (run["settings"][k] for k in ("model", "train", "data"))
    return (f"{model['cell'].upper()}, embeddings {model['embed_size']}, hidden "
            f"{model['hidden_size']}, {model['num_layers']} layer(s); {data_cfg['max_pairs']:,} "
            f"pairs of at most {data_cfg['max_len']} tokens; batch {train['batch_size']}, "
            f"{train['max_steps']:,} steps, {train['precision']}; seeds {results['seeds']}; "
            f"valid {results['metric']['name']} on {results['metric']['sentences']} sentences")


def verdict(citation, arm: str) -> str:
    """The deciding test of `arm` against the control, as one sentence."""
    control, d = citation.results["control"], citation.difference(arm)
    steps = max(citation.arm(control).steps + citation.arm(arm).steps)
    metric = {"bleu": "BLEU", "chrf": "chrF"}.get(citation.results["metric"]["name"])
    said = (f"{arm} scores {'higher' if d.difference > 0 else 'lower'} than {control}: the "
            "interval excludes 0" if d.excludes_zero()
            else f"no difference shown between {arm} and {control}: the interval includes 0")
    text = (f"At {steps:,} steps, {said} ({arm} - {control} = {d.difference:+.2f} {metric}, "
            f"95 % interval [{d.low:+.2f}, {d.high:+.2f}], permutation p = {d.p_value:.2f})")
    learning = [a for a in (control, arm) if citation.arm(a).still_learning]
    if learning:
        text += (f"; but {' and '.join(learning)} still gained 10 % or more over the last "
                 "quarter of the steps: not past noise, more steps could change the verdict")
    return text + "."

# %% [markdown]
# The committed result, with the verdict computed from it:

# %%
from s2s.experiments.report import cite

# the committed result: results/ch03_mask.json (declared in experiments/ch03_mask.toml)
mask_result = cite("ch03_mask")
print(mask_result.source)
print(design(mask_result))
print(mask_result)
print(verdict(mask_result, "unmasked"))

# %% [markdown]
# The cell above prints the verdict: the interval of the difference contains 0, so at 8,000
# steps three seeds show no difference in BLEU between the masked and the unmasked loss — what
# §3.4 predicted: within a batch both losses weigh every real token alike and Adam rescales the
# gradient, so the padding dilutes the *reported* number rather than what is learned. Every
# run is past noise: its last-quarter gain is +0 %, its validation loss no longer improving,
# so its best weights, the ones judged, no longer changed. (At 4,000 steps, this experiment's
# first budget — the earlier version of `results/ch03_mask.json`, in the repository's
# history — every masked run and one unmasked run were still learning: the budget was
# doubled so that the two arms are compared where they end, not on the way.) The mask remains
# the right loss all the same, because it reports the truth (the first row of the live table)
# and keeps batches with much padding from counting less.

# %% [markdown]
# ## 3.8 Teacher forcing, or feeding back the model's own predictions
#
# Teacher forcing trains the decoder on the true previous token, but at inference it sees its
# own, possibly wrong, previous output — the bottom row of the diagram in §3.5 ("exposure
# bias"). `TrainConfig(feed_back=0.25)` feeds the model its own greedy prediction instead of
# the true token at a **fixed** 25 % of positions, from the first step to the last. That is
# the simplest form of the idea, not *scheduled* sampling (Bengio et al., 2015), which starts
# at 0 % and raises the rate on a schedule as the model improves. Feeding back predictions
# needs each step's output before the next step's input, so the decoder runs one step at a
# time instead of one RNN call over the whole sentence, and each training step costs more.
#
# A live look first: one seed, the bucketed batches and the steps of §3.5, against §3.5's
# run — **too short, and too few runs, to decide**. §3.5's run wrote a checkpoint at every
# validation; this one writes its own the same way, so that the two runs' speeds differ only
# in how they train:

# %%
s2s.seed_everything(0)
gru_fb = build_model(config("gru"), data.src_vocab, data.tgt_vocab)
fb_history = fit(gru_fb, data, replace(train_cfg, feed_back=0.25), device=device,
                 checkpoint=ckpt / "gru_fed_back.pt")  # checkpoints as in §3.5's run
fed_back = judge(gru_fb, data, split="valid", max_sentences=profile.eval_sentences)
print(f"{'training':24}{'valid BLEU':>11}{'valid loss':>11}{'target tok/s':>14}")
for name, h, j in [("teacher forcing", short_history, result),
                   ("fixed 25% own predictions", fb_history, fed_back)]:
    print(f"{name:26}{j.bleu.score:9.2f}{h.val_loss[-1]:11.3f}{h.tokens_per_second:14,.0f}")
speed = fb_history.tokens_per_second / short_history.tokens_per_second
print(f"one seed each, {profile.compare_steps} steps (too few to decide): BLEU difference "
      f"{fed_back.bleu.score - result.bleu.score:+.2f}; speed, fed back / teacher forcing: "
      f"{speed:.2f}x ({'slower' if speed < 1 else 'not slower'} in this pair of runs)")

# %% [markdown]
# Read the BLEU column as a look, not a result: one seed per arm, and §3.7's table showed
# that the seed alone moves BLEU. The validation loss is computed with teacher forcing, the
# condition the first model trained in all the time, so it favours that model by
# construction. The speed is the method's cost: the step-by-step decoder cannot run the
# sentence through the RNN in one call. The ratio printed is one run each on this machine,
# validation and checkpoints included, so a busy moment moves it; the mechanism says which
# way it should go, and the cell says whether this pair of runs agrees. And early in training
# many of the model's own predictions are wrong (§3.6's examples), so a fixed rate from the
# first step feeds back a lot of noise — which is why scheduled sampling starts at 0 %.
#
# **The experiment that decides**, `experiments/ch03_feed_back.toml`: the small GRU and data
# of §3.7's experiment, on bucketed batches, teacher forcing (the control) against a fixed
# 25 % of decoder inputs fed back, three seeds per arm and 8,000 steps per run, judged by
# greedy BLEU on the valid split (`design` prints the settings):

# %%
# the committed result: results/ch03_feed_back.json (declared in experiments/ch03_feed_back.toml)
feed_back_result = cite("ch03_feed_back")
print(feed_back_result.source)
print(design(feed_back_result))
print(feed_back_result)
print(verdict(feed_back_result, "fed_back"))

# %% [markdown]
# The cell above prints the verdict: at 8,000 steps feeding back 25 % of the model's own
# predictions scores higher than teacher forcing, and the interval of the difference excludes
# 0. The last-quarter gains say why it is not a tie any more. The teacher-forced runs had
# stopped improving: two gained +0 % (their validation loss never beat its earlier best, so
# the judged weights did not change), and the third −10 % (its validation loss reached a
# slightly lower best, with weights that translate worse); their validation losses, kept in
# the results file, had turned upward by the end: they were overfitting. Two of the three
# fed-back runs were still gaining, +13 % and +10 % as printed, and the arm is flagged, so
# its lead may still grow (the flag comes from the +13 % run alone: the other's gain is
# 9.9 % before rounding, in the results file, just under the 10 % threshold). Feeding back
# the model's own, often wrong, predictions makes the training inputs noisier, which at
# this size may act like a regulariser — a reading of these curves, not something the
# experiment tests. (At 4,000 steps, this experiment's first budget, the interval still
# included 0.) The gain is at equal *steps*; each of those steps costs more (one decoder
# call per target position, the live runs' speed line), and the experiment does not measure
# it at equal time, nor for the larger models of chapters 4–7, which keep teacher forcing,
# the faster step: whether feeding back pays there is an open question this result raises,
# not one it answers.

# %% [markdown]
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

edges = [e for e in (1, 4, 6, 8, 10) if e <= profile.max_len] + [profile.max_len + 1]
buckets = bleu_by_length(final, edges)
for label, n, score in buckets:
    print(f"source {label:>5} tokens: {n:5} sentences, BLEU {score:5.1f}")
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.bar([b[0] for b in buckets], [b[2] for b in buckets], color="C0")
ax.set(xlabel="source length (tokens)", ylabel="test BLEU", title="GRU seq2seq by length")
plt.show()
peak = max(buckets, key=lambda bucket: bucket[2])
print(f"highest BLEU: sources of {peak[0]} tokens; the smallest bucket holds "
      f"{min(n for _, n, _ in buckets)} sentences")

# %% [markdown]
# The cell prints where BLEU peaks. Chapter 1's bottleneck predicts that the longest
# sources suffer most: one fixed-size vector must carry the whole sentence. Read the bars
# with care, though: BLEU of very short sentences is itself harsh (one wrong word in a
# three-word sentence removes most of its n-grams), a bucket of a few dozen sentences gives a
# noisy BLEU (the counts are printed beside each bucket), and the buckets hold different
# kinds of sentences, not the same sentences at different lengths. Chapter 4 compares the
# same buckets with and without attention, which is the controlled version of this question.
#
# ## 3.10 LSTM
#
# An LSTM keeps a second state, the cell `c`, beside `h`; `RNNEncoder`/`RNNDecoder` take
# `cell="lstm"` and carry `(h, c)` pairs. A live run with the seed and budget of §3.5's GRU
# run, writing its checkpoints the same way — one seed per cell at the start of training,
# **too short and too few runs to decide** which cell is better:

# %%
s2s.seed_everything(0)
lstm = build_model(config("lstm"), data.src_vocab, data.tgt_vocab)
lstm_history = fit(lstm, data, train_cfg, device=device,
                   checkpoint=ckpt / "lstm.pt")  # checkpoints as in §3.5's GRU run
lstm_result = judge(lstm, data, split="valid", max_sentences=profile.eval_sentences)
print(f"after {profile.compare_steps} steps, one seed each (too few to decide), valid split: "
      f"GRU {result.bleu.score:.2f} BLEU, LSTM {lstm_result.bleu.score:.2f} BLEU")
print(f"training throughput in these runs: GRU {short_history.tokens_per_second:,.0f} "
      f"tok/s, LSTM {lstm_history.tokens_per_second:,.0f} tok/s")

# %% [markdown]
# One run per cell early in training says nothing about which cell ends better. Nor do
# these two runs rank the cells' speed: one run each, on a machine whose load moves a run's
# throughput. `benchmarks/train_throughput.py` times the training step of both, in fp32 and
# in `auto`, the models taking turns within each round so that a slow moment of the machine
# does not fall on one of them only. `benchmarks/README.md` records one run of it
# (`--profile cpu`, 2026-11-24, a 2-core Intel Xeon with AMX): the GRU at 10,219 and the
# LSTM at 10,488 target tokens/s in fp32, 13,231 and 14,725 in bf16. Rerun it to rank the two
# cells' steps on your machine.
#
# **The experiment that decides**, `experiments/ch03_cell.toml`: the small model and data of
# §3.7's experiment, on bucketed batches, the GRU (the control) against the LSTM, identical
# otherwise, three seeds per arm and 8,000 steps per run, judged by greedy BLEU on the valid
# split (`design` prints the settings):

# %%
# the committed result: results/ch03_cell.json (declared in experiments/ch03_cell.toml)
cell_result = cite("ch03_cell")
print(cell_result.source)
print(design(cell_result))
print(cell_result)
print(verdict(cell_result, "lstm"))

# %% [markdown]
# The cell above prints the verdict: after 8,000 steps the LSTM is behind the GRU by well
# under a BLEU point, and the interval of the difference excludes 0. Read the last-quarter
# gains with it. A gain of exactly +0 % means the run's validation loss did not improve over
# the last quarter, so its best weights, the ones judged, did not change; the GRU's −10 %
# run did reach a slightly lower validation loss, with weights that translate worse. Most
# runs of both cells had stopped improving, overfitting the 30,000 small pairs (their
# validation losses, kept in the results file, had turned upward by the end). One LSTM seed
# was still gaining (+11 %) and is flagged, so the LSTM's mean may still rise a little; the
# GRU had finished. (At 4,000 steps, this experiment's first budget, every LSTM run was
# still climbing fast and the gap was more than four times as large, −2.71 BLEU between the
# arms' means at step 4,000, which the results file keeps too: a ranking of how fast the
# cells learn, which is why the budget was doubled.) The verdict holds at this size
# (embeddings 64, hidden 128, sentences of at most 8 tokens); it is not a general ranking of
# the two cells. Chapter 4 keeps the GRU; chapters 6 and 7 use the LSTM, as the Keras
# example and CS224n do.

# %% [markdown]
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
# How to read these lines. A sentence marked *in training* is a memory test, not a
# translation test, however right its translation. *Held out* means only that the exact
# tokenised sentence is not a training source; a near neighbour may be. *I'm cold.* is the
# first sentence written with a contraction, and the last line says whether it is in
# training — if it is, *I am cold.* is a near neighbour of a training sentence, not a new
# one. Judge the translations yourself (for the third, *elle lit un livre tous les jours.*
# would be right), but three sentences say little either way: the test BLEU of §3.9 is the
# measurement.
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
# the profiles' setting, which picks by hardware (the rule closes this section; the first
# cell printed what it chose here). Inside a bf16 `autocast` block, as the cell opens one,
# the model's logits come out in bf16 and the loss is fp32:

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
# computed in fp32). §3.5's first run serves as the bf16 run of seed 0 when `auto` chose
# bf16 (the first cell says whether it did); the other runs are new. A third arm gives bf16
# the *time* that fp32 took for its steps.

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
speedup = arms["fp32", 1].seconds / arms["bf16", 1].seconds  # seed 1: no checkpoints in either
print(f"bf16 vs fp32 at equal steps: {gaps[0]:+.2%} (seed 0), {gaps[1]:+.2%} (seed 1); "
      f"seed 0 vs seed 1 in fp32: {seed_gap:.2%}; with seed 1, bf16's whole run was "
      f"{speedup:.2f}x as fast as fp32's")
s2s.check(max(map(abs, gaps)) <= max(0.02, seed_gap),
          "at equal steps bf16's validation loss is within 2 % (or the seed spread) of fp32's")

# %% [markdown]
# Read the table in two directions. **At equal steps** the cell prints, for each seed, how far
# bf16's final validation loss lies from fp32's, next to how far fp32's two seeds lie from
# each other, and checks that the precision moved the loss by no more than 2 % or that seed
# gap, whichever is larger. Within that bound, rounding to three digits inside the forward
# pass acts like a small change of seed, not like a systematic loss; with two seeds the cell
# cannot resolve a difference smaller than that. **At equal time** is what mixed precision is
# for: the last run gets the seconds that fp32 took for its steps with seed 0, and the cell
# prints how many steps bf16 got through in them and the loss it reached.
#
# The speed-up printed is of whole runs, one pair of them, with seed 1: seed 0's bf16 run is
# §3.5's (when `auto` chose bf16), which wrote a checkpoint at every validation while the
# fp32 run wrote none, so that pair's seconds do not compare. A whole run also validates
# (always in fp32) and loads batches, which 16-bit arithmetic does not speed up, so, measured
# side by side, its ratio would understate the training step's own. But one pair of whole
# runs on a machine whose load moves is a rough measure, and the benchmark's figures below
# were taken on another day: the two need not agree, in either direction.
# `benchmarks/train_throughput.py` times the step itself, in fp32 and in `auto`, for the
# GRU, the LSTM and chapter 4's attention models;
# `benchmarks/README.md` records its run of 2026-11-24 (`--profile cpu`, a 2-core Intel Xeon
# with AMX), where the step ran 1.29× as fast in bf16 for the GRU and 1.40× for the LSTM.
#
# **What `auto` chooses, and what was measured.** `auto` is a rule written in
# `s2s.precision`, not a measurement made on your machine:
#
# * on a CPU: bf16 when the processor has native bf16 instructions (AVX512-BF16 or AMX),
#   fp32 otherwise;
# * on a CUDA GPU without bf16 (compute capability below 8, such as Colab's T4): fp16 with a
#   gradient scaler;
# * on a CUDA GPU with bf16 (an A100, an H100): fp32;
# * on any other device: fp32.
#
# The branches do not rest on the same evidence. The CPU branch with native bf16 was measured
# (the benchmark above; and this section's cells measure fp32 against bf16 on whatever
# machine runs them). Without native instructions bf16 is emulated in software; how slow
# that is was not measured in this course. Nor was fp16's speed on a T4: that branch rests on a hardware
# fact — those GPUs' tensor cores run fp16, not bf16 — not on a timing. The fp32 branch for
# GPUs with bf16 rests on a measurement reported in the course's issue 15 and quoted in
# `benchmarks/README.md`, not re-measured since: at the `gpu` profile's sizes an H100's
# training step was bound by launching kernels rather than by arithmetic, and bf16 autocast
# ran slower than fp32. `TrainConfig(precision="bf16")` (or `"fp16"`, or `"fp32"`) overrides
# the rule wherever you have measured otherwise.

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
# *Model answer* (read with the shares the cell above printed). The two parts whose size
# grows with the target vocabulary, the decoder's embedding and its output layer `out`, hold
# the largest shares, together more than half of the model; the encoder holds a little less
# than either, and the decoder's GRU — the part that carries the sentence from step to step
# — the least. Parameters are not time, though: the embedding costs one row lookup per
# token, while `out` multiplies every one of its weights for every target token, and it has
# more weights than the GRU. So the output layer, a `(tokens, hidden) × (hidden,
# vocabulary)` product, is the largest single share of a training step's arithmetic; a
# smaller target vocabulary (or subwords) is the lever that moves it, not a smaller GRU.
