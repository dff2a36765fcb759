# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/v0.1.0/chapters/06_characters.ipynb)
#
# # 6. Characters and inference models
#
# Every model so far read and wrote **words**. Keras's well-known introduction to
# sequence-to-sequence learning (`examples/lstm_seq2seq.py`, 2017) translates English into
# French **one character at a time**, with an LSTM encoder–decoder, and it is where many people
# first meet the idea of *inference models*: after training, the network is rebuilt as an
# encoder model and a decoder model that a hand-written loop calls once per output character.
# This chapter takes that lesson and does it right: the real corpus split by source sentence,
# held-out sentences only, a masked loss, batched decoding, and a measured comparison with the
# word-level model at equal training time.
#
# **In this chapter you will learn**
# 1. how a trained encoder–decoder splits into an *encoder part* (sources → states) and a
#    *decoder step* (token, states → distribution, states), why the course's interface already
#    has both on every model, and how a hand-written decoding loop on them gives exactly the
#    library's greedy output;
# 2. how per-layer LSTM states $(h, c)$ pass from encoder to decoder, and what a second layer
#    buys at equal training time — measured over two seeds per depth;
# 3. what changes between word and character level on the same held-out sentences: BLEU and
#    chrF, sequence lengths, speed, vocabulary size, and unknown words;
# 4. greedy decoding and beam search on a character model.
#
# **Prerequisites**: chapter 1 (`Encoder` / `Decoder` / `EncoderDecoder`, `Decoder.step`),
# chapter 2 (`load_translation`, character tokens, the split by source sentence), chapter 3
# (LSTM encoder–decoders, training with `fit`, greedy decoding, BLEU) and chapter 5
# (`batched_beam_search`). On the PyTorch side: `nn.LSTM`'s `(h, c)` of shape
# (layers, batch, hidden).
#
# *Sentences: Tatoeba (tatoeba.org) via manythings.org/anki, CC-BY 2.0 France.*
#
# **Exercises and their solutions.** The solutions (for the open experiments, what a full answer
# contains) are in this notebook, under each exercise
# at the end; to work the exercises without seeing them, open the student version
# instead: `make release` writes it to `release/06_characters.ipynb` (see `homework/README.md`).

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
import time

import matplotlib.pyplot as plt
import torch

import s2s
from s2s.precision import describe

profile, device = s2s.setup()
print(describe(profile.precision, device))  # what training runs in (chapter 3, §3.12)

# %% [markdown]
# ## 6.1 Characters as tokens
#
# A character-level model reads and writes one character per step: letters, digits,
# punctuation and the spaces between words are all tokens, and case is kept. Chapter 2's
# tokenisers show the difference on one sentence. The word tokeniser lower-cases and splits off
# punctuation; the character tokeniser keeps everything, so nothing is ever "a word it has
# not seen" — only a character it has not seen.

# %%
# NBVAL_CHECK_OUTPUT
from s2s.text import tokenize_chars, tokenize_words

sentence = "Zoë was born in 1999."
print("words:     ", tokenize_words(sentence))
print("characters:", tokenize_chars(sentence))

# %% [markdown]
# The corpus at character level is one call. `max_len` counts tokens, so here it is the most
# **characters** per side, `profile.char_max_len`; pairs are split by source sentence and the
# character vocabularies come from the training split, as in chapter 2. Each vocabulary has
# the four special tokens first, then every character seen at least `min_freq` times:

# %%
from s2s.data import load_translation

chars = load_translation("fra-eng", max_len=profile.char_max_len, max_pairs=profile.max_pairs,
                         min_freq=profile.min_freq, tokenizers=("char", "char"))
print("French characters:", "".join(chars.tgt_vocab.itos[4:]))
src, tgt = chars.splits.train[0]
print(f"a training pair: {''.join(src)!r} -> {''.join(tgt)!r}")
print("target ids:", chars.tgt_vocab.encode(tgt), "then <eos> =", 3)

# %% [markdown]
# The Keras example marks the start and end of a target with a tab and a newline; we use the
# course's `<bos>` and `<eos>`, which have the same fixed ids in every vocabulary, and pad with
# `<pad>` = 0 so that the loss can skip padding (chapter 3).
#
# ### The same sentences at word level
#
# To compare the two levels fairly we need the **same** sentence pairs in the **same** splits.
# Two calls of `load_translation` would not give them: a limit of `char_max_len` characters and
# a limit in words keep different pairs, and the split shuffles whatever source groups remain.
# `s2s.chars.word_level_twin` instead takes the character data's own splits, joins each pair's
# characters back into its text and tokenises that into words; the word vocabularies are built
# from the twin's training split. The check goes through every pair of every split:

# %%
from s2s.chars import word_level_twin

words = word_level_twin(chars)
same = all(w == (tokenize_words("".join(s)), tokenize_words("".join(t)))
           for split in ("train", "valid", "test")
           for (s, t), w in zip(getattr(chars.splits, split), getattr(words.splits, split),
                                strict=True))
s2s.check(same, "the word-level data holds the very same pairs, in the same splits and order")

# %% [markdown]
# One subtlety. The split keeps all pairs of a *character* source together. Two sources that
# differ only in case or spacing ("Go on." and "go on.") are two character sources but one word
# source, so at word level a held-out sentence could have a twin in training. The cell counts
# how often that happens:

# %%
from s2s.data import leaked_fraction

for split in ("valid", "test"):
    leak = leaked_fraction(words.splits.train, getattr(words.splits, split))
    print(f"{split}: {leak:.2%} of the word-level pairs have their source among training "
          f"sources -> {'under' if leak < 0.01 else 'AT LEAST'} 1 %")

# %% [markdown]
# Both fractions print as 0.00 %. With 2,670 valid and 2,674 test pairs, a single twin would
# already show as 0.04 %, so no held-out word-level source has a twin among the training
# sources: the comparison of §6.5 is not tilted by them. Where such twins do occur, they can
# only favour the word model (it has seen the source in training), never the character model.
#
# How long are the sequences? The same sentences are several times longer at character level,
# and every step of an RNN is one more sequential computation:

# %%
from statistics import mean

for name, data in (("characters", chars), ("words", words)):
    src_len = mean(len(s) for s, _ in data.splits.train)
    tgt_len = mean(len(t) for _, t in data.splits.train)
    print(f"{name:10}: {len(data.src_vocab):6,} source / {len(data.tgt_vocab):6,} target "
          f"tokens in the vocabularies; mean length {src_len:5.1f} source, {tgt_len:5.1f} "
          "target tokens")

# %% [markdown]
# ## 6.2 A character-level LSTM encoder–decoder
#
# The model is chapter 3's `rnn` kind with `cell="lstm"`: an embedding of each character, an
# LSTM encoder packed over the real lengths, and an LSTM decoder that starts from the encoder's
# final $(h, c)$ and reads the context vector (the encoder's top-layer $h$) at every step.
# Keras's example differs in two ways this chapter does not study: it feeds one-hot vectors
# instead of embeddings, and its decoder does not read the context at every step.
#
# Every model of this chapter trains for the same wall-clock budget, `profile.char_minutes`,
# with the profile's sizes — one model per (level, depth, seed), trained once and cached by
# `s2s.zoo.cached_model`, so a second run of the notebook loads them. The helper names each run:

# %%
from s2s.chars import longest
from s2s.zoo import cached_model, profile_config, profile_train_config


def train(data, layers: int, seed: int):
    """An LSTM encoder-decoder of `layers` layers on `data`, trained for char_minutes."""
    level = data.tokenizers[0]
    config = profile_config("rnn", profile, data, cell="lstm", num_layers=layers,
                            max_len=longest(data))
    cfg = profile_train_config(profile, max_minutes=profile.char_minutes, seed=seed)
    return cached_model(f"ch06-{level}-lstm{layers}-seed{seed}", config, data, cfg,
                        profile=profile.name, device=device)


# %% [markdown]
# The first run: one layer, seed 0, at character level. The line below it says how far the
# budget went — steps, target characters per second — and where the validation loss (per
# character) ended.

# %%
runs = {}  # (layers, seed) -> (model, history), character level
runs[1, 0] = train(chars, layers=1, seed=0)
char_model, h = runs[1, 0]
print(f"{h.steps:,} steps in {h.seconds:.0f} s ({h.tokens_per_second:,.0f} target characters/s, "
      f"{h.precision}); validation loss {h.val_loss[0]:.2f} -> {h.best_val:.2f} per character")

# %% [markdown]
# ## 6.3 The inference models
#
# ### What Keras does
#
# A Keras functional `Model` is a fixed graph from named inputs to named outputs. The training
# model maps (source one-hots, target one-hots shifted by one) to next-character
# probabilities for the whole target at once — teacher forcing. That graph cannot generate:
# at inference there is no target to feed. So the example builds **two more models from the
# same trained layers**:
#
# * `encoder_model = Model(encoder_inputs, encoder_states)`: a source → the LSTM's final
#   `[h, c]`;
# * `decoder_model = Model([decoder_inputs, h_in, c_in], [probabilities, h, c])`: one previous
#   character and the states → the next character's distribution and the new states. The
#   states need their own `Input` layers, because in the training graph they were internal.
#
# and a loop, `decode_sequence`, that calls `encoder_model.predict` once and
# `decoder_model.predict` once per character, feeding the argmax and the new states back,
# until it writes the end character or reaches a length limit — one sentence at a time.
#
# ### What the interface already has
#
# Our interface (chapter 1) was designed around that split, so no model needs rebuilding. The
# **encoder part** is `model.encode(src, src_len)` — the encoder followed by the decoder's
# `init_state` — and the **decoder step** is `model.decoder.step(token, state)`, the very method
# that `s2s.decoding.greedy` and the beam searches call. On four held-out (valid) sentences:

# %%
from s2s.data import source_batch

valid_groups = chars.references("valid")
demo = ["".join(s) for s, _ in valid_groups[:4]]
train_sources = {"".join(s) for s, _ in chars.splits.train}
s2s.check(not any(s in train_sources for s in demo), f"held out, not training sources: {demo}")
src, src_len = source_batch(chars.src_vocab, [tokenize_chars(s) for s in demo], device)
state = char_model.eval().encode(src, src_len)
h, c = state.hidden
print(f"src {tuple(src.shape)} -> {type(state).__name__}: context {tuple(state.context.shape)}, "
      f"h {tuple(h.shape)}, c {tuple(c.shape)} = (layers, B, H)")

# %% [markdown]
# The state is the decoder's own `RNNState`: the context vector (B, H) and the LSTM's $(h, c)$,
# each (layers, B, H). One decoder step from `<bos>` gives logits over the French characters;
# `s2s.inference.distribution` turns them into the probabilities Keras's decoder model
# outputs (`<pad>` and `<bos>` at 0). The five most likely first characters of the first
# sentence:

# %%
from s2s.inference import distribution
from s2s.vocab import BOS

bos = torch.full((len(demo),), BOS, device=device)
with torch.no_grad():
    logits, next_state = char_model.decoder.step(bos, state)
probs = distribution(logits)
top = probs[0].topk(5)
print(f"{demo[0]!r}: logits {tuple(logits.shape)}; P(first character) =",
      ", ".join(f"{chars.tgt_vocab.itos[i]!r} {p:.2f}" for p, i in zip(*top, strict=True)))

# %% [markdown]
# The whole data flow, drawn by `s2s.diagrams.inference.inference_flow` for a two-layer model:
# the encoder part hands each layer's final $(h, c)$ to the same layer of the decoder step; a
# step turns the previous character (and the context $c$) into logits, the softmax into a
# distribution, and hands on new states. The loop feeds the chosen character and the new states
# back into the next step.

# %%
from s2s.diagrams.inference import inference_flow

inference_flow(num_layers=2, source=("H", "i", "!"))
plt.show()

# %% [markdown]
# ### The loop, by hand
#
# Keras's `decode_sequence`, written for a batch. Encode once; start every sentence from
# `<bos>`; at each step take the most likely character (never `<pad>` or `<bos>`); a sentence
# that writes `<eos>` is finished, and the loop stops when all are, or after `max_len` steps:

# %%
from s2s.decoding import never_generate
from s2s.vocab import EOS


@torch.no_grad()
def my_decode(encoder_part, decoder_step, src, src_len, max_len: int) -> list[list[int]]:
    state = encoder_part(src, src_len)  # Keras: encoder_model.predict(input_seq)
    token = torch.full((src.shape[0],), BOS, device=src.device)  # (B,)
    outputs, alive = [[] for _ in range(src.shape[0])], [True] * src.shape[0]
    for _ in range(max_len):
        logits, state = decoder_step(token, state)  # Keras: decoder_model.predict(...)
        token = never_generate(logits).argmax(-1)  # (B,) the most likely next character
        for b, t in enumerate(token.tolist()):
            alive[b] = alive[b] and t != EOS
            if alive[b]:
                outputs[b].append(t)
        if not any(alive):
            break
    return outputs


# %% [markdown]
# Does it give what the library's `greedy` gives? On the first 64 valid sources, with the
# length limit `translate` uses (twice the model's `max_len`, the longest sentence of the data,
# plus 10):

# %%
from s2s.decoding import greedy

first = ["".join(s) for s, _ in valid_groups[:64]]
src, src_len = source_batch(chars.src_vocab, [tokenize_chars(s) for s in first], device)
limit = 2 * char_model.config.max_len + 10
ours = my_decode(char_model.encode, char_model.decoder.step, src, src_len, limit)
s2s.check(ours == greedy(char_model, src, src_len, limit),
          f"the hand-written loop gives greedy's output on all {len(first)} sentences")

# %% [markdown]
# The same loop is in the library as `s2s.inference.decode_sequence`, on the two parts that
# `inference_models(model)` names (it also switches dropout off); `tests/test_inference.py`
# checks it against `greedy` on trained one- and two-layer LSTMs and a GRU. The library's
# version agrees with ours, and from here on we use the library — `s2s.translate` from text to
# text:

# %%
from s2s.inference import decode_sequence, inference_models

parts = inference_models(char_model)
s2s.check(decode_sequence(parts, src, src_len, limit) == ours,
          "s2s.inference.decode_sequence agrees with the hand-written loop")
for source, output in zip(demo, s2s.translate(char_model, demo), strict=True):
    print(f"{source:{profile.char_max_len}} -> {output}")

# %% [markdown]
# ### Why one object and not three
#
# Keras needs three models because a functional graph fixes its inputs and outputs: one
# graph trains, and two more expose the states that the training graph kept inside. Ours are
# one object with two methods, for three reasons that the code above relied on:
#
# * **shared by construction**: `encode` and `decoder.step` are methods of the trained model,
#   so there is nothing to rebuild and no way for the inference parts to drift from the
#   trained weights;
# * **the state is opaque**: the loop never looks inside `state`. Keras's decoder model lists
#   its state tensors as inputs — `[h, c]` for one LSTM layer, two more per extra layer, a
#   different list for a GRU or for attention — and its loop must unpack and repack them. Our
#   loop is the same for a GRU's $h$, a two-layer LSTM's $(h, c)$ and chapter 4's attention
#   states; beam search only needs the state's `select` (chapter 5);
# * **batched**: the loop decodes a batch at once; Keras's loop runs one sentence at a time.
#
# The Keras example also trains differently from this chapter: it reads the first 10,000 lines
# of the file and validates on the last fifth of them (the same English sentence can sit on
# both sides); it pads with zero vectors that the encoder runs over, so a short sentence's
# final state is taken after its padding (chapter 3's packing point); and it decodes sentences
# of its own training set as its demonstration. The demo sentences above are held out, and
# after 1.5 minutes of training (the `cpu` profile's `char_minutes`) the model translates none
# of them correctly: "Qui est ton préfére ?" begins like a translation of "Who is your lawyer?"
# and then goes astray, and the other three are French of a sort that says something else
# ("Il a l'air seul." for "He had his wallet stolen."). §6.4 and §6.5 measure how far off it is.
#
# ## 6.4 One layer or two
#
# ### How the states pass, layer by layer
#
# With two layers, `nn.LSTM` returns $(h, c)$ each of shape (2, B, H): one row per layer. The
# decoder's LSTM has as many layers and starts layer $l$ from the encoder's final state of
# layer $l$; the context vector is the top layer's $h$. We train the two-layer model (seed 0)
# and check all of that on the demo sentences:

# %%
runs[2, 0] = train(chars, layers=2, seed=0)
deep = runs[2, 0][0].eval()
src, src_len = source_batch(chars.src_vocab, [tokenize_chars(s) for s in demo], device)
with torch.no_grad():
    _, (enc_h, enc_c) = deep.encoder(src, src_len)
    state = deep.encode(src, src_len)
print("encoder: h", tuple(enc_h.shape), "c", tuple(enc_c.shape), "(layers, B, H)")
for layer in range(2):
    s2s.check(torch.equal(state.hidden[0][layer], enc_h[layer])
              and torch.equal(state.hidden[1][layer], enc_c[layer]),
              f"decoder layer {layer + 1} starts from encoder layer {layer + 1}'s (h, c)")
s2s.check(torch.equal(state.context, enc_h[-1]), "the context vector is the top layer's h")

# %% [markdown]
# This layer-to-layer hand-over needs the encoder and the decoder to have the same number of
# layers and the same hidden size (Exercise 2 asks what to do otherwise). In Keras, a
# two-layer version of the example needs four state inputs in its decoder model — $h$ and $c$
# for each layer — and a loop that carries all four.
#
# ### What depth buys at equal training time
#
# A second layer adds computation per step, so in the same wall-clock budget it trains fewer
# steps. Is it worth it? Two seeds per depth (a seed sets the initial weights, the batch order
# and dropout), each trained for `char_minutes`, judged on the same valid sentences with
# greedy decoding. `held_out` gives the sources as text and their references lower-cased —
# the word model of §6.5 writes lower-case, so both levels are scored against the same
# lower-cased references (`judge_texts` lower-cases the outputs too):

# %%
from s2s.chars import held_out, judge_texts

valid_src, valid_refs = held_out(chars, "valid", profile.eval_sentences)
SEEDS, DEPTHS = (0, 1), (1, 2)
for layers in DEPTHS:
    for seed in SEEDS:
        if (layers, seed) not in runs:
            runs[layers, seed] = train(chars, layers=layers, seed=seed)
scores = {}  # (layers, seed) -> (BLEU, chrF) on valid
for key, (model, _) in runs.items():
    j = judge_texts(model, valid_src, valid_refs)
    scores[key] = (j.bleu.score, j.chrf().score)
print(f"{len(valid_src)} valid sentences")

# %% [markdown]
# One row per run — steps trained in the budget, parameters, best validation loss per
# character, valid BLEU and chrF — then, per depth, the mean and the spread (largest minus
# smallest) over the seeds:

# %%
print("layers seed   steps  parameters  val loss   BLEU   chrF")
for (layers, seed), (model, hist) in sorted(runs.items()):
    n = sum(p.numel() for p in model.parameters())
    print(f"{layers:6} {seed:4} {hist.steps:7,} {n:11,} {hist.best_val:9.3f} "
          f"{scores[layers, seed][0]:6.2f} {scores[layers, seed][1]:6.2f}")
summary = {}  # layers -> (mean chrF, spread of chrF)
for layers in DEPTHS:
    values = [scores[layers, seed][1] for seed in SEEDS]
    summary[layers] = (mean(values), max(values) - min(values))
    print(f"{layers} layer(s): chrF {summary[layers][0]:.2f} mean, {summary[layers][1]:.2f} "
          "spread over the seeds")

# %% [markdown]
# The verdict, computed: is the difference between the depths' mean chrF larger than the
# larger of the two seed spreads? With two seeds per depth the spread is a crude yardstick —
# a difference below it is no evidence of an effect, and one above it is a hint, not a proof.

# %%
gain = summary[2][0] - summary[1][0]
noise = max(summary[1][1], summary[2][1])
print(f"two layers vs one, equal time: {gain:+.2f} chrF; largest seed spread {noise:.2f} -> "
      + (f"the second layer {'helps' if gain > 0 else 'hurts'} by more than the seed spread"
         if abs(gain) > noise else "no effect beyond the seed spread shows"))

# %% [markdown]
# The curves behind those numbers: the validation loss per character against training time
# for the four runs (left), and each run's valid chrF by depth (right, one dot per seed).

# %%
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.5))
for (layers, seed), (_, hist) in sorted(runs.items()):
    seconds = [s * hist.seconds / hist.steps for s in hist.val_steps]
    ax.plot(seconds, hist.val_loss, marker="o", ms=3, color=f"C{layers - 1}",
            ls="-" if seed == 0 else "--", label=f"{layers} layer(s), seed {seed}")
ax.set(xlabel="training time (s, at each validation)", ylabel="validation loss per character")
ax.legend(fontsize=8)
for layers in DEPTHS:
    bx.plot([layers] * len(SEEDS), [scores[layers, s][1] for s in SEEDS], "o", ms=8,
            color=f"C{layers - 1}")
bx.set(xticks=list(DEPTHS), xlim=(0.5, 2.5), xlabel="LSTM layers", ylabel="valid chrF")
fig.suptitle(f"Character-level LSTM, {profile.char_minutes} min per run, two seeds per depth")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the left panel for *why* the second layer hurt. Every run validates every `eval_every`
# steps, so the n-th point of each curve is the same number of steps (all but the last point,
# taken when the time ran out), and the two-layer curves have fewer points in the same time.
# Point for point, their loss is close to the one-layer runs' (a little lower at most points):
# per step, the second layer buys little. But in the
# same 1.5 minutes the two-layer runs took about 40 % fewer steps (715 and 749 against 1,201 and
# 1,269 in the table above) and ended at a validation loss of 0.988 and 0.982 per character,
# above the one-layer runs' 0.913 and 0.882. The verdict line puts the cost at 3.67 chrF, more
# than the largest seed spread (1.37) — a hint, by the rule above, not a proof.
#
# That is the measured result at this budget. What longer training would do is an expectation,
# not something this chapter measures: once a one-layer model's loss flattens, the extra
# capacity of a second layer may pay for its slower steps (the `gpu` profile, which trains
# longer and larger models, uses two layers for its word models in chapters 3–5).
#
# ## 6.5 Word level against character level
#
# The word-level model: the same `rnn` LSTM, one layer, the same sizes, seed and budget,
# trained on the word-level twin of the very same pairs. Only the tokens change.

# %%
word_model, word_hist = train(words, layers=1, seed=0)
print(f"word level: {word_hist.steps:,} steps in {word_hist.seconds:.0f} s, validation loss "
      f"{word_hist.best_val:.2f} per word")

# %% [markdown]
# Both models translate the same valid sentences, given as text (each tokenises it its own
# way), and are scored against the same lower-cased references. The cell times each, so that
# the table below can report decoding speed:

# %%
judged, decode_rate = {}, {}
for name, model in (("word", word_model), ("character", char_model)):
    start = time.perf_counter()
    judged[name] = judge_texts(model, valid_src, valid_refs)
    decode_rate[name] = len(valid_src) / (time.perf_counter() - start)
    print(f"{name:9} level: BLEU {judged[name].bleu.score:5.2f}, "
          f"chrF {judged[name].chrf().score:5.2f}")

# %% [markdown]
# **chrF** (Popović, 2015) is the F-score of character n-grams (1 to 6, recall weighted twice
# as much as precision; sacrebleu's default, spaces ignored). BLEU counts whole-word n-grams, so
# an output word with one wrong letter earns nothing; chrF gives it partial credit. That is
# meant to be fairer to a character model, whose mistakes can be a word *almost* right —
# reporting both keeps each metric's bias visible. Here the two metrics agree: the word model
# leads by BLEU (23.33 against 7.42) and by chrF (43.89 against 23.64).
#
# Next, the rest of what the levels differ in, gathered per level: vocabulary sizes, the mean
# output length in tokens, the training budget's steps and speed, the decoding speed, and the
# share of valid source tokens the vocabulary does not know (`s2s.chars.unknown_rate`) with the
# number of `<unk>` the model wrote:

# %%
from s2s.chars import unknown_rate

table = {}
for name, data, hist in (("word", words, word_hist), ("character", chars, runs[1, 0][1])):
    tokenize = tokenize_chars if name == "character" else tokenize_words
    outputs = judged[name].hypotheses
    table[name] = {
        "vocabulary, source / target": f"{len(data.src_vocab):,} / {len(data.tgt_vocab):,}",
        "mean output length (tokens)": f"{mean(len(tokenize(o)) for o in outputs):.1f}",
        "training steps in the budget": f"{hist.steps:,}",
        "training pairs / s (about)": f"{hist.steps * profile.batch_size / hist.seconds:,.0f}",
        "decoding, sentences / s": f"{decode_rate[name]:,.0f}",
        "unknown valid source tokens":
            f"{unknown_rate(data.src_vocab, [tokenize(s) for s in valid_src]):.2%}",
        "<unk> written in the outputs": f"{sum(o.count('<unk>') for o in outputs):,}",
        "valid BLEU": f"{judged[name].bleu.score:.2f}",
        "valid chrF": f"{judged[name].chrf().score:.2f}",
    }

# %% [markdown]
# The comparison table, and the verdict on quality: is the chrF difference between the levels
# larger than the seed spread of the one-layer character model (§6.4)? We trained one word
# model, so that spread is the only yardstick this chapter has.

# %%
print(f"{'':30} {'word level':>14} {'character level':>16}")
for row in table["word"]:
    print(f"{row:30} {table['word'][row]:>14} {table['character'][row]:>16}")
diff = judged["character"].chrf().score - judged["word"].chrf().score
print(f"\ncharacter minus word: {diff:+.2f} chrF, "
      f"{judged['character'].bleu.score - judged['word'].bleu.score:+.2f} BLEU; seed spread "
      f"of the character model's chrF {summary[1][1]:.2f} -> "
      + ("a difference beyond the seed spread" if abs(diff) > summary[1][1] else
         "no difference beyond the seed spread"))

# %% [markdown]
# The word model is far ahead, by 20.24 chrF and 15.91 BLEU, about fifteen times the seed spread.
# The table shows what the character model paid for its open vocabulary in the same
# 1.5 minutes: about half the training steps (1,201 against 2,487), outputs four times as many
# tokens long (20.1 against 5.1), each token a choice it can get wrong, and slower decoding.
# What it gained — no unknown source tokens and no `<unk>` in its outputs, against the word
# model's 4.31 % and 894 — does not make up for that at this budget.
#
# Where do the levels differ? chrF by the length of the source in characters — four groups cut
# at the quartiles of the valid sources' lengths (ties at the cuts make their sizes unequal;
# the cell prints them), each scored as a corpus:

# %%
from s2s.metrics import corpus_chrf

lengths = sorted(len(s) for s in valid_src)
edges = sorted({lengths[int(q * (len(lengths) - 1))] for q in (0, 0.25, 0.5, 0.75)})
edges.append(lengths[-1] + 1)
bins = list(zip(edges[:-1], edges[1:], strict=True))
by_length = {name: [] for name in judged}
for low, high in bins:
    idx = [i for i, s in enumerate(valid_src) if low <= len(s) < high]
    for name, j in judged.items():
        by_length[name].append(corpus_chrf([j.hypotheses[i] for i in idx],
                                           [j.references[i] for i in idx]).score)
print({f"{low}-{high - 1} characters": len([s for s in valid_src if low <= len(s) < high])
       for low, high in bins})

# %% [markdown]
# Each group's chrF, as bars (the cell above printed how many sentences each group holds):

# %%
fig, ax = plt.subplots(figsize=(7, 3.2))
for k, name in enumerate(by_length):
    ax.bar([i + 0.38 * k for i in range(len(bins))], by_length[name], width=0.38, label=name)
ax.set_xticks([i + 0.19 for i in range(len(bins))],
              [f"{low}-{high - 1}" for low, high in bins])
ax.set(xlabel="source length (characters)", ylabel="valid chrF",
       title=f"Word vs character level, {profile.char_minutes} min of training each")
ax.legend()
plt.show()

# %% [markdown]
# The word model is far ahead in every group. Both levels score lowest on the longest
# sources, where the word model drops the most, so the gap is narrowest there, but still
# wide: at this budget, no length of sentence favours the character model.
#
# ### Unknown words
#
# A word model maps every word outside its vocabulary to `<unk>`, on the way in and on the way
# out: a name it never saw can only come out as `<unk>` or as some other name. A character
# model has no unknown words, only unknown characters — and it can, in principle, **copy** a
# name or a number character by character. Which held-out sentences test that? Those with a
# name or a number (`s2s.chars.names_and_numbers`: words with a digit, and capitalised words
# that do not start the sentence) that the word model's source vocabulary lacks:

# %%
from s2s.chars import copied, names_and_numbers

rare = [(i, [w for w in names_and_numbers(s) if tokenize_words(w)[0] not in words.src_vocab])
        for i, s in enumerate(valid_src)]
rare = [(i, found) for i, found in rare if found]
print(f"{len(rare)} of {len(valid_src)} valid sources hold a name or number unknown to the "
      "word model")
for i, found in rare[:4]:
    print(f"\nsource:    {valid_src[i]}   (unknown: {', '.join(found)})")
    for name, j in judged.items():
        print(f"{name:10} {j.hypotheses[i]}")
    print(f"reference: {valid_refs[i][0]}")

# %% [markdown]
# Counted over all such sentences: how often does each model's output contain the unknown name
# or number (as a whole word, ignoring case)? The word model can only manage it when the word
# happens to be in its *target* vocabulary.

# %%
for name, j in judged.items():
    hits = sum(all(copied(w, j.hypotheses[i]) for w in found) for i, found in rare)
    print(f"{name:9} level: copied every unknown name/number in {hits} of {len(rare)} sentences")
unk_rate = sum("<unk>" in judged["word"].hypotheses[i] for i, _ in rare) / max(len(rare), 1)
print(f"the word model wrote <unk> in {unk_rate:.0%} of them")

# %% [markdown]
# The counts are the measurement, and here they are the same for both levels: neither model
# copied any of the unknown names and numbers (0 of 11 sentences each), and the word model
# wrote `<unk>` in every one of them. For the word model that is the rule, not bad luck: a
# word in neither of its vocabularies cannot come out at all. The character model *can*
# represent an unseen name — every character of "Toyota" and "10" is in its French vocabulary
# (§6.1) — but at this training budget it did not copy any: the examples above show it writing
# fluent-looking French that is unrelated to the source ("mon père est marié." for "My car is
# a Toyota."), the name simply gone. Eleven sentences are few, but 0 of 11 is enough to say
# that this model does not reliably copy names. With more training, a character model would be
# expected to copy some of them — an expectation, not a result of this chapter.
#
# Copying is not translation either: "Singapore" should become "singapour" (the reference
# above), a number may need a space or a different separator in French, and a character model
# that copies letters may also "copy" a word that should have been translated. The word model's
# limit is built in, the character model's here is one of training; subword units, between the
# two levels, give an open vocabulary with much shorter sequences than characters, and are what
# modern systems use (byte-pair encoding; Sennrich et al., 2016).
#
# ## 6.6 Greedy and beam search on the character model
#
# The character model chosen for the rest of the chapter is the run with the best valid chrF
# in §6.4, whatever its depth. Chapter 5's batched beam search works on it unchanged: it only
# calls `encode`, `decoder.step` and the state's `select`. At character level greedy decoding
# makes several times more choices per sentence than at word level, and each is one a beam
# can revisit.
# Greedy against beams of 2 and 5 (chapter 5 swept wider on the word model), with chapter 5's
# GNMT length penalty, on the same valid sentences:

# %%
best_key = max(scores, key=lambda key: scores[key][1])
best = runs[best_key][0]
print(f"chosen on valid: {best_key[0]} layer(s), seed {best_key[1]}")
searches = {"greedy": {}, **{f"beam {k}": {"beam_size": k, "length_penalty": "gnmt"}
                            for k in (2, 5)}}
search_scores = {}
for name, search in searches.items():
    start = time.perf_counter()
    j = judge_texts(best, valid_src, valid_refs, **search)
    rate = len(valid_src) / (time.perf_counter() - start)
    length = mean(len(h) for h in j.hypotheses)
    search_scores[name] = (j.bleu.score, j.chrf().score)
    print(f"{name:8}: BLEU {j.bleu.score:5.2f}  chrF {j.chrf().score:5.2f}  "
          f"mean length {length:5.1f} characters  {rate:7.1f} sentences/s")

# %% [markdown]
# The rule for choosing, as in chapter 5: the search with the best valid chrF, which becomes
# the setting judged on test. The line below also says whether any beam beat greedy by more
# than the seed spread of §6.4's chosen depth (a yardstick from other runs, but the one we
# have):

# %%
chosen = max(search_scores, key=lambda name: search_scores[name][1])
beam_gain = max(v[1] for n, v in search_scores.items() if n != "greedy") - \
    search_scores["greedy"][1]
print(f"chosen search: {chosen}; best beam vs greedy {beam_gain:+.2f} chrF, seed spread "
      f"{summary[best_key[0]][1]:.2f} -> "
      + ("beyond the seed spread" if abs(beam_gain) > summary[best_key[0]][1] else
         "within the seed spread"))

# %% [markdown]
# The rule chose beam 5: the best valid chrF (26.13, against 26.04 for beam 2 and 25.01 for
# greedy), with the best BLEU too (8.99 against greedy's 7.09). But its gain over greedy, a
# chrF of +1.12, is within the seed spread (1.37), so it is weak evidence that beam search helps
# a character model: the rule has to pick one search, but this chapter cannot tell whether
# beam 5 would still beat greedy on a model trained from another seed. It costs decoding speed
# (the sentences per second above) and writes shorter outputs (19.9 characters on average,
# against greedy's 22.7).
#
# ## 6.7 The final judgement, on test
#
# Everything above chose on the valid split: the depth and seed, and the search. The chosen
# character model with the chosen search is now judged once on the **test** split, next to the
# word model (greedy, as it was compared on valid). These are the chapter's final numbers;
# nothing is chosen after them. The self-checks state floors that a model which did not learn
# fails: test chrF and BLEU at the `cpu` profile. At `ci`, where each run trains for seconds
# and chrF does not yet rise steadily with the steps (measured: see `s2s.profiles`), and at
# `gpu`, where none has been measured yet, the claim is chapter 3's (§3.9): a best validation
# loss at least `expect_loss_drop` nats below $\ln V$, a uniform guess over the $V$ target
# characters.

# %%
test_src, test_refs = held_out(chars, "test", profile.eval_sentences)
final = judge_texts(best, test_src, test_refs, **searches[chosen])
word_final = judge_texts(word_model, test_src, test_refs)
print(f"test, {len(test_src)} sentences: character model ({best_key[0]} layer(s), {chosen}) "
      f"BLEU {final.bleu.score:.2f}, chrF {final.chrf().score:.2f}; word model (greedy) "
      f"BLEU {word_final.bleu.score:.2f}, chrF {word_final.chrf().score:.2f}")
if profile.expect_chrf_char > 0:  # 0: no chrF claim at this profile
    s2s.check(final.chrf().score >= profile.expect_chrf_char,
              f"character model: test chrF >= {profile.expect_chrf_char}")
if profile.expect_bleu_char > 0:  # 0: no BLEU claim at this profile
    s2s.check(final.bleu.score >= profile.expect_bleu_char,
              f"character model: test BLEU >= {profile.expect_bleu_char}")
if profile.expect_loss_drop > 0:  # 0: no loss claim at this profile
    ceiling, best_val = profile.max_val_loss(len(chars.tgt_vocab)), runs[best_key][1].best_val
    s2s.check(best_val <= ceiling,
              f"character model: validation loss {best_val:.2f} <= {ceiling:.2f} = ln V - "
              f"{profile.expect_loss_drop} (V = {len(chars.tgt_vocab)})")

# %% [markdown]
# On test the picture of valid holds: the character model (one layer, seed 1, beam 5) reaches
# BLEU 7.71 and chrF 25.16, the word model (greedy) BLEU 22.51 and chrF 42.68, each a little
# below its valid scores. The character model was the best of four runs and three searches on
# valid, the word model the only one of its kind, and the word model is still far ahead: after
# 1.5 minutes of training, words beat characters on these sentences.
#
# A few test sentences with the chosen character model's output and a reference — held-out
# sentences, like every example in this chapter. As in §6.3's demo, the outputs are French
# sentences that mostly do not say what the source says:

# %%
print(final.examples(4))

# %% [markdown]
# ## Exercises
#
# Three exercises, graded with nbgrader (see `homework/README.md`): the coding parts by
# the test cell under them (the visible tests, plus hidden ones when graded), the written
# answers by hand. Points are in each cell's nbgrader metadata and in the headings.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_code_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 1 (coding, 3 points).** Keras's example says it "samples" the next character and
# then uses the argmax. Write real sampling on the inference models: `sample(model, src,
# src_len, max_len, temperature, generator)` decodes a batch like `decode_sequence`, but draws
# each next token from `distribution(logits / temperature)` with `torch.multinomial` (using
# `generator`), and returns B lists of ids without `<eos>`, each at most `max_len` long. At a
# tiny temperature it must write greedy's output; at temperature 1 it should vary. (The test
# cell below is long on purpose: its hidden part checks the first character of 4,000 draws
# against the distribution at two temperatures.)

# %% nbgrader={"grade": false, "grade_id": "ex1_code_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def sample(model, src, src_len, max_len: int, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> list[list[int]]:
    ### BEGIN SOLUTION
    encoder_part, decoder_step = inference_models(model)
    state = encoder_part(src, src_len)
    token = torch.full((src.shape[0],), BOS, device=src.device)
    outputs, alive = [[] for _ in range(src.shape[0])], [True] * src.shape[0]
    for _ in range(max_len):
        logits, state = decoder_step(token, state)
        probs = distribution(logits / temperature).cpu()
        token = torch.multinomial(probs, 1, generator=generator)[:, 0].to(src.device)
        for b, t in enumerate(token.tolist()):
            alive[b] = alive[b] and t != EOS
            if alive[b]:
                outputs[b].append(t)
        if not any(alive):
            break
    return outputs
    ### END SOLUTION


# %% tags=["long"] nbgrader={"grade": true, "grade_id": "ex1_code_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
import copy as reference_copy  # the tests' own names: rebinding greedy above changes nothing
import math as reference_math

from s2s.decoding import greedy as reference_greedy
from s2s.inference import distribution as reference_distribution
from s2s.inference import inference_models as reference_parts

src, src_len = source_batch(chars.src_vocab, [tokenize_chars(s) for s in valid_src[:16]], device)
seeded = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
# in float64 at T = 1e-9: two characters whose float32 logits differ by 5e-7 (it happens)
# would still be a coin flip at T = 1e-6
exact = reference_copy.deepcopy(char_model).double()
cold = sample(exact, src, src_len, 40, temperature=1e-9, generator=seeded(0))
assert cold == reference_greedy(exact, src, src_len, 40)
warm = sample(char_model, src, src_len, 40, generator=seeded(0))
assert len(warm) == 16 and all(len(out) <= 40 for out in warm)
assert not {0, 2, 3} & {t for out in warm for t in out}  # no <pad>, <bos>, <eos>
### BEGIN HIDDEN TESTS
assert sample(char_model, src, src_len, 40, generator=seeded(0)) == warm
assert warm != reference_greedy(char_model, src, src_len, 40)
assert all(len(out) <= 1 for out in sample(char_model, src, src_len, 1, generator=seeded(1)))
# The first characters of 4,000 draws for one sentence follow distribution(logits / T): the
# three likeliest within 4 standard errors of their probability (an argmax, a missing or
# inverted temperature, or a draw from the wrong step's logits fails this).
draws = 4000
one, one_len = src[:1].expand(draws, -1).contiguous(), src_len[:1].expand(draws).contiguous()
encoder_part_, decoder_step_ = reference_parts(char_model)
with torch.no_grad():
    first_logits, _ = decoder_step_(torch.full((1,), 2, device=src.device),
                                    encoder_part_(src[:1], src_len[:1]))
for temperature in (1.0, 0.5):
    firsts = [out[0] if out else 3 for out in  # an empty output: <eos> was drawn first
              sample(char_model, one, one_len, 1, temperature, seeded(7))]
    probs = reference_distribution(first_logits / temperature)[0].double().cpu()
    for token in probs.topk(3).indices.tolist():
        p = float(probs[token])
        seen = firsts.count(token) / draws
        bound = 4 * reference_math.sqrt(p * (1 - p) / draws) + 1e-3
        assert abs(seen - p) <= bound, (temperature, token, seen, p)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_concept_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 2 (written answer, 2 points).** §6.4 handed layer $l$'s final $(h, c)$ of the
# encoder to layer $l$ of the decoder. Suppose the encoder has **two** layers and the decoder
# **one**, or the encoder is bidirectional. In three or four sentences: which states could
# the decoder start from, what are two ways to make the hand-over work (one without new
# parameters, one with), and what does the library's bidirectional encoder do (chapter 3)?

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex2_concept_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* A one-layer decoder needs one $(h, c)$ of size H per sentence, and a
# two-layer encoder offers two. Without new parameters, the decoder can start from the
# encoder's **top** layer (the most processed summary, which is also what our context vector
# is) or from the element-wise sum or mean of the layers. With parameters, a learned
# **bridge** maps the encoder's states to the decoder's: $h_0 = \tanh(W [h^{(1)}; h^{(2)}])$,
# and the same for $c$ — which also works when the sizes differ. The library's bidirectional
# encoder does exactly that per layer: it joins each layer's forward and backward final states
# with a learned bridge $\tanh(W [h_{fwd}; h_{bwd}])$ (one for $h$, one for $c$), so the
# decoder receives (layers, B, H) as if the encoder were unidirectional.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_experiment_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 3 (experiment, 1 + 3 points).** At equal time the second layer of §6.4 hurt
# (−3.67 chrF). Is that depth itself, or just a bigger model that takes fewer steps in the
# budget? First write `lstm_params(input_size, hidden_size,
# num_layers)`, the number of parameters of a PyTorch `nn.LSTM` (each layer has input and
# recurrent weights for 4 gates and two bias vectors; layers above the first read the layer
# below). The cell under the tests uses it to find the hidden size of a **one-layer** model
# with as many LSTM parameters as the two-layer one (the decoder's LSTM reads the embedding
# and the context, so its input size is E + H). Then train that one-layer model with
# `profile_config(..., hidden_size=...)` for `char_minutes`, two seeds, judge it on the valid
# sentences as in §6.4, and report: its chrF next to both depths', against the seed spread,
# and what you conclude. (Add your own code cells above the answer cell.)

# %% nbgrader={"grade": false, "grade_id": "ex3_experiment_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_params(input_size: int, hidden_size: int, num_layers: int) -> int:
    ### BEGIN SOLUTION
    per_layer = lambda inputs: 4 * hidden_size * (inputs + hidden_size + 2)  # noqa: E731
    return per_layer(input_size) + (num_layers - 1) * per_layer(hidden_size)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_experiment_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert lstm_params(3, 5, 1) == sum(p.numel() for p in torch.nn.LSTM(3, 5).parameters())
assert lstm_params(profile.embed_size, profile.hidden_size, 2) == sum(
    p.numel() for p in deep.encoder.rnn.parameters())
### BEGIN HIDDEN TESTS
assert lstm_params(7, 4, 3) == sum(p.numel() for p in torch.nn.LSTM(7, 4, 3).parameters())
assert lstm_params(profile.embed_size + profile.hidden_size, profile.hidden_size, 2) == sum(
    p.numel() for p in deep.decoder.rnn.parameters())
### END HIDDEN TESTS

# %% [markdown]
# The hidden size a one-layer model needs to match the two-layer model's LSTM parameters
# (encoder and decoder together):

# %%
E, H = profile.embed_size, profile.hidden_size
target = lstm_params(E, H, 2) + lstm_params(E + H, H, 2)
matched = next(size for size in range(H, 8 * H)
               if lstm_params(E, size, 1) + lstm_params(E + size, size, 1) >= target)
print(f"two layers of H = {H}: {target:,} LSTM parameters; one layer needs H = {matched} "
      f"({lstm_params(E, matched, 1) + lstm_params(E + matched, matched, 1):,})")

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex3_experiment_answer", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# *What a full answer contains* (this chapter did not train the matched model, so there are no
# numbers here to copy; the grader checks the student's against their printed cells): the
# matched hidden size printed above; two runs of the one-layer model at that size, each for
# `char_minutes`, with `cached_model` or `fit` and seeds 0 and 1; their valid chrF (and BLEU)
# from `judge_texts` on §6.4's valid sentences; a table with the three arms (one layer at H,
# one layer at the matched size, two layers at H) with means and seed spreads, the first and
# last arms from §6.4 (one layer at H: 24.32 mean chrF, spread 1.37; two layers: 20.65, spread
# 0.48); and a conclusion — if the wide one-layer model falls about as far below the narrow one
# as the two-layer model does, size (more parameters, hence fewer steps) explains the loss, not
# depth; if it stays level with the narrow one-layer model while the two-layer model stays
# behind by more than the spreads, depth itself costs at this budget; if the differences are
# within the spreads, this budget cannot tell. It should also note that the wider model's
# output layer grows too (its input is H), and that equal parameters are not equal time: the
# steps each run took belong in the table (in §6.4 the two-layer runs took about 40 % fewer
# than the one-layer runs). (1 point for the runs and the table, 1 for reading the spreads
# correctly, 1 for the conclusion and its caveats.)
