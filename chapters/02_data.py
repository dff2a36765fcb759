# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/v0.1.0/chapters/02_data.ipynb)
#
# # 2. Data: from raw Tatoeba lines to batches
#
# A translation model is only as honest as its data pipeline. This chapter takes the real
# English–French sentence pairs of the Tatoeba project from the downloaded file to the padded
# batches that chapters 3–5 train on, and measures two things that quietly ruin results
# elsewhere: how much a naive train/test split leaks test sentences into training, and how much
# of a batch is padding.
#
# **In this chapter you will learn**
# 1. how the corpus is fetched, verified by checksum and parsed, with nothing dropped silently;
# 2. word-level and character-level tokens, and vocabularies with fixed special ids,
#    `min_freq` and `<unk>`;
# 3. why the split must be made **by source sentence**, measured on the real corpus;
# 4. padding, lengths and masks, and how length bucketing removes most of the padding.
#
# **Prerequisites**
# - chapter 1: the shapes of a batch (`src (B, S)`, `src_len (B,)`, `tgt_in` and `tgt_out`
#   `(B, T)`) and the special tokens `<pad>`, `<unk>`, `<bos>`, `<eos>`;
# - Python lists, dictionaries and `collections.Counter`;
# - PyTorch tensors, comparisons that give boolean tensors (`ids != 0`), and what a
#   `DataLoader` does (it hands out batches); how ours builds them is section 2.5.
#
# *The sentences shown in this chapter are from Tatoeba (tatoeba.org) via
# manythings.org/anki, licensed CC-BY 2.0 France.*
#
# **Exercises and their solutions.** The solutions (for the open experiments, what a full answer
# contains) are in this notebook, under each exercise
# at the end; to work the exercises without seeing them, open the student version
# instead: `make release` writes it to `release/02_data.ipynb` (see `homework/README.md`).

# %% [markdown]
# The next cell only does something on Colab: it fetches the course repository at the release
# this notebook was executed with, installs its small `s2s` package (Colab's own PyTorch is
# kept), moves into its `chapters/` folder, where the committed experiment results are found,
# and prints what it installed. On your machine, `make lab` has already installed it.

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

# %% [markdown]
# As in every chapter, `s2s.setup()` picks the run profile and the device and seeds the random
# generators. In this chapter the profile changes little: the corpus statistics below are
# computed on the whole corpus whatever the profile, and only the vocabularies' `min_freq` and
# the final `load_translation` call (section 2.6) follow the profile.

# %%
import matplotlib.pyplot as plt
import torch

import s2s

profile, device = s2s.setup()

# %% [markdown]
# ## 2.1 Getting the file
#
# `s2s.download.fetch` knows each release of the corpus by its checksum. It looks first in a
# mirror folder (`S2S_DATA_DIR`; the course's CI points it at an offline copy), then in the
# download cache, and only then downloads — through pooch, which writes to a temporary file and
# keeps it only if its checksum matches. A mirror file that matches no known release is
# refused with a message that says what to do; it is never used "because it was there".
#
# Which release you get matters. The outputs stored in this chapter come from the mirrored
# release of 2017-09-29. manythings.org replaces its file with each new release, so that one
# can only come from a mirror; without one, `fetch` downloads the first known release that
# still has a stable address — for English–French, d2l's copy (`fra-eng-d2l`), a different
# file. The first line printed below names the release you got; if it is not the one stored
# here, your counts will differ from the text's.

# %%
from s2s.download import DATASETS, fetch, read_text

path, release = fetch("fra-eng")
print("file:   ", path.name)
print("release:", release.name, "—", release.note)
print("hash:   ", release.known_hash)
print("other known releases of fra-eng:", [r for r in DATASETS["fra-eng"] if r != release.name])

# %% [markdown]
# What is in the archive?

# %%
import zipfile

with zipfile.ZipFile(path) as archive:
    for member in archive.infolist():
        print(f"{member.filename:12} {member.file_size:12,} bytes")

# %% [markdown]
# A note on the source (`_about.txt`) and the sentences, `fra.txt`, with one pair per line,
# `English<TAB>French` (newer releases add a third column with attribution). `read_text`
# reads the sentence file in memory — no extraction to disk, and an archive with a `../` path
# inside is refused.

# %%
text = read_text(path, release)
for line in text.splitlines()[:5]:
    print(repr(line))

# %% [markdown]
# Note the `'\u202f'` in *Cours !*: French typography puts a narrow non-breaking space before
# `!` and `?`. Parsing counts every line: a pair, a blank line, or a malformed line (with its
# line number and reason) — nothing is dropped without being reported.

# %%
from s2s.text import parse_pairs

raw_pairs, report = parse_pairs(text)
print(report)

# %% [markdown]
# ## 2.2 Tokenisation
#
# At word level we follow d2l exactly: replace non-breaking spaces, lower-case, and put a
# space before `, . ! ?` so punctuation becomes its own token. (The unit test
# `tests/test_data.py::test_word_tokens_equal_d2l_on_every_line_of_the_real_corpus` compares
# our tokens with those of d2l 1.0.3's own code on every line of the corpus; run it with
# `python -m pytest tests/test_data.py -k d2l`.) `detokenize` reverses the spacing, so that BLEU
# in chapter 3 is computed on ordinary text.

# %%
# NBVAL_CHECK_OUTPUT
from s2s.text import detokenize, tokenize_chars, tokenize_words, tokenize_zh

for sentence in ["Go.", "Cours\u202f!", "I'm cold, aren't you?", "J'ai froid."]:
    tokens = tokenize_words(sentence)
    print(f"{sentence!r:26} -> {tokens} -> {detokenize(tokens)!r}")

# %% [markdown]
# At character level (the design of the Keras character-level seq2seq example) every character
# is a token, case and spaces included; Chinese, which has no spaces between words, is
# tokenised as characters too: chapter 7 (§7.6) trains an English→Chinese model on Tatoeba's
# English–Mandarin pairs with exactly this tokeniser on the Chinese side.

# %%
# NBVAL_CHECK_OUTPUT
print(tokenize_chars("Va !"))
print(tokenize_zh("我很好。"))

# %% [markdown]
# Let us tokenise the whole corpus at word level and look at the lengths.

# %%
word_pairs = [(tokenize_words(en), tokenize_words(fr)) for en, fr in raw_pairs]
en_lens = torch.tensor([len(en) for en, _ in word_pairs])
fr_lens = torch.tensor([len(fr) for _, fr in word_pairs])
print(f"{len(word_pairs):,} pairs; English tokens: median {en_lens.median()}, max {en_lens.max()};"
      f" French tokens: median {fr_lens.median()}, max {fr_lens.max()}")
for limit in (8, 12, 16):
    kept = ((en_lens <= limit) & (fr_lens <= limit)).float().mean()
    print(f"pairs with <= {limit} tokens per side: {kept:.1%}")

# %% [markdown]
# The same lengths as a histogram, English and French side by side (the last bin counts every
# sentence of 30 tokens or more):

# %%
fig, ax = plt.subplots(figsize=(6, 3))
bins = torch.arange(0.5, 31.5, 1.0)
ax.hist([en_lens.clamp(max=30), fr_lens.clamp(max=30)], bins=bins, label=["English", "French"])
ax.set(xlabel="tokens per sentence (30 = 30 or more)", ylabel="pairs",
       title="Sentence lengths in Tatoeba fra-eng")
ax.legend()
plt.show()

# %% [markdown]
# Most sentences are short: the median is 7 tokens on both sides, and the long tail (up to
# the maximum printed above) holds few pairs. The models of chapters 3–5 train on pairs of at
# most `profile.max_len` tokens per side; each profile also sets `min_freq`, used in the next
# section. The next cell prints both settings for every profile, and the share of the corpus
# that each `max_len` keeps.

# %%
print(f"{'profile':9}{'max_len':>8}{'min_freq':>9}{'pairs kept':>12}")
for name, p in s2s.PROFILES.items():
    kept = ((en_lens <= p.max_len) & (fr_lens <= p.max_len)).float().mean()
    print(f"{name:9}{p.max_len:8}{p.min_freq:9}{kept:12.1%}")

# %% [markdown]
# ## 2.3 Vocabularies
#
# A `Vocab` maps tokens to ids. The four special tokens have fixed ids in every vocabulary —
# `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3 — so that a padding mask is always `ids != 0`.
# Other tokens follow by frequency; tokens seen fewer than `min_freq` times become `<unk>`.

# %%
# NBVAL_CHECK_OUTPUT
from s2s.vocab import Vocab

toy = Vocab.build([["le", "chat", "."], ["le", "chien", "."], ["un", "chat", "!"]], min_freq=2)
print(toy.itos)
print(toy.encode(["le", "chat", "noir", "."]), "<- 'noir' is unknown")
print(toy.decode([2, 4, 5, 3, 0, 0]), "<- decoding stops at <eos>, skips <bos>/<pad>")

# %% [markdown]
# Word and character vocabularies trade size against length. We build both from the French
# side of every other pair (the even-numbered ones) and measure, on the odd-numbered pairs,
# how many tokens they cannot represent (`<unk>`) and how long a sentence is in tokens. This
# interleaved split is the kind §2.4 warns against for judging models — some French
# sentences occur in both halves — but for counting how much of a text a vocabulary covers
# it is good enough; the overlap makes the `<unk>` rates a little lower than on truly new
# sentences:

# %%
train_fr, other_fr = [fr for _, fr in word_pairs[::2]], [fr for _, fr in word_pairs[1::2]]
train_chars = [tokenize_chars(fr) for _, fr in raw_pairs[::2]]
other_chars = [tokenize_chars(fr) for _, fr in raw_pairs[1::2]]


def unk_rate(vocab: Vocab, sentences: list[list[str]]) -> float:
    ids = [i for s in sentences for i in vocab.encode(s)]
    return sum(i == 1 for i in ids) / len(ids)


print(f"{'vocabulary':24}{'size':>8}{'<unk> rate':>12}{'mean length':>13}")
for min_freq in (1, 2, 5):
    v = Vocab.build(train_fr, min_freq)
    print(f"{'words, min_freq=' + str(min_freq):24}{len(v):8,}{unk_rate(v, other_fr):12.2%}"
          f"{sum(map(len, other_fr)) / len(other_fr):13.1f}")
v = Vocab.build(train_chars, 1)
print(f"{'characters':24}{len(v):8,}{unk_rate(v, other_chars):12.2%}"
      f"{sum(map(len, other_chars)) / len(other_chars):13.1f}")
ratio = sum(map(len, other_chars)) / sum(map(len, other_fr))
print(f"a sentence is {ratio:.1f} times as many characters as words")

# %% [markdown]
# The table shows the trade. Word vocabularies have thousands of ids — more than 21,000 with
# `min_freq=1`, fewer than 6,000 with `min_freq=5` — and the rarer words they drop come back
# as `<unk>`: the higher `min_freq`, the more `<unk>` in the other half. The character
# vocabulary has 112 ids and leaves almost no character of the other half of the corpus
# unknown (the rate rounds to 0.00%), but its sequences are several times longer (the last
# line gives the factor).
#
# Longer sequences mean more recurrent steps per sentence, and — after chapter 1 — more to
# carry through a fixed-size state. Whether that makes a character model worse or better at
# translation is an empirical question this chapter does not answer; chapter 6 trains a
# character-level model and compares it with a word-level one on the same held-out sentences
# at equal training time (§6.5). The models of chapters 3–5 and 7 read and write words
# (characters only on the Chinese side of §7.6), with the `min_freq` of the profile table
# above (a higher value gives a smaller vocabulary, and so a smaller output layer, at the
# price of more `<unk>`).

# %% [markdown]
# ## 2.4 A split that does not leak
#
# Tatoeba often has several French translations of one English sentence — that is how a
# translation corpus should be, but it breaks the usual "shuffle and cut" split: the English
# sentence lands in training with one translation and in the test set with another, and the
# model is "tested" on sentences it has already learned.

# %%
from collections import Counter

counts = Counter(" ".join(en) for en, _ in word_pairs)
multi = sum(1 for c in counts.values() if c > 1)
print(f"{len(counts):,} distinct English sentences; {multi:,} of them have 2+ translations")
sentence, n = counts.most_common(1)[0]
print(f"most translated: {sentence!r} ({n} translations)")

# %% [markdown]
# We measure the leak: the fraction of test pairs whose English sentence also appears in the
# training pairs, for a naive split and for `split_by_source`, which shuffles *source
# sentences* and keeps all translations of one sentence on the same side.

# %%
from s2s.data import leaked_fraction, naive_split, split_by_source

naive_train, naive_test = naive_split(word_pairs, test_frac=0.05, seed=0)
naive_leak = leaked_fraction(naive_train, naive_test)
splits = split_by_source(word_pairs, valid_frac=0.05, test_frac=0.05, seed=0)
our_leak = leaked_fraction(splits.train + splits.valid, splits.test)
print(f"naive split:     {naive_leak:.1%} of {len(naive_test):,} test pairs have their source "
      "in training")
print(f"split by source: {our_leak:.1%} of {len(splits.test):,} test pairs")
s2s.check(our_leak == 0.0 and naive_leak > 0, "the source split leaks nothing; the naive one does")

# %% [markdown]
# With the naive split, about half of the "test" pairs have an English sentence the model has
# already been trained on (with another translation): a score on them would partly measure
# memory, not translation. The by-source split leaks nothing. It also gives each test
# sentence **all** its references, which multi-reference BLEU uses in chapter 3; here is the
# test sentence with the most references (the first five):

# %%
from s2s.data import group_references

refs = group_references(splits.test)
source, references = max(refs, key=lambda r: len(r[1]))
print(" ".join(source))
for ref in references[:5]:
    print("   ", " ".join(ref))

# %% [markdown]
# ## 2.5 Padding, lengths, masks
#
# A batch is a rectangle, sentences are not. We pad with `<pad>` (id 0 — never with `<bos>`, as
# the PyTorch tutorial does, which makes padding indistinguishable from real starts) and keep
# each source's length. The decoder's input is the target shifted right behind `<bos>`; its
# output is the target followed by `<eos>`. The source also ends with `<eos>`, as in d2l.

# %%
# NBVAL_CHECK_OUTPUT
from s2s.data import PairDataset, collate
from s2s.vocab import PAD

src_vocab = Vocab.build([en for en, _ in splits.train], profile.min_freq)
tgt_vocab = Vocab.build([fr for _, fr in splits.train], profile.min_freq)
example = [(["go", "."], ["va", "!"]), (["i", "am", "cold", "."], ["j'ai", "froid", "."])]
src, src_len, tgt_in, tgt_out = collate(PairDataset(example, src_vocab, tgt_vocab))
for name, t in [("src", src), ("src_len", src_len), ("tgt_in", tgt_in), ("tgt_out", tgt_out)]:
    print(f"{name:8}{tuple(t.shape)}")
print("source mask (src != PAD):")
print((src != PAD).int())
print("tgt_in[0]: ", tgt_vocab.decode(tgt_in[0]), "(decode drops <bos>, <pad>)")
print("tgt_out[1]:", tgt_vocab.decode(tgt_out[1]), "then id", tgt_out[1, -1].item(), "= <eos>")

# %% [markdown]
# The mask printed above is the whole story of padding in two rows: `1` where a real token
# sits, `0` where `<pad>` fills the rectangle. How much of a batch is padding depends on which
# sentences share it. With batches drawn at random from the training split, short and long
# sentences meet, and the short ones are padded to the longest. The `BucketBatchSampler`
# instead shuffles the training items, sorts them by length, cuts consecutive items into
# batches, and shuffles the order of those batches, so that each batch holds sentences of
# nearly equal length while the epoch still visits lengths in a random order.
#
# The picture below, drawn by `s2s.diagrams.batches.padded_batches`, shows the source side of
# a real batch of four training sentences of each kind: the first batch that a random loader
# and a bucketed loader hand out. Every grey box is a token (each sentence ends with the
# `<eos>` that `PairDataset` appends), every dashed white box is a `<pad>` slot, and under each
# batch is its mask, `1` for a token and `0` for padding. The panel titles count the slots.

# %%
from s2s.data import make_loader, padding_efficiency
from s2s.diagrams.batches import padded_batches

train_set = PairDataset(splits.train, src_vocab, tgt_vocab)


def first_batch(bucket: bool, size: int = 4) -> list[list[str]]:
    """The source side of a loader's first batch, as tokens without the padding."""
    batch_src = next(iter(make_loader(train_set, size, bucket=bucket)))[0]  # (size, S)
    return [[src_vocab.itos[i] for i in row if i != PAD] for row in batch_src.tolist()]


padded_batches({"random batch": first_batch(False), "bucketed batch": first_batch(True)})
plt.show()

# %% [markdown]
# In the random batch, one long sentence sets the width and the others are padded up to it; in
# the bucketed batch, the sentences have (nearly) the same length and there is little or no
# padding. Four sentences are an anecdote, so we measure the fraction of token slots that hold
# real tokens over one epoch of the full training split, with batches of 128:

# %%
plain = padding_efficiency(make_loader(train_set, 128, bucket=False))
bucketed = padding_efficiency(make_loader(train_set, 128, bucket=True))
print(f"{'batches':12}{'source':>10}{'target':>10}{'all':>10}")
for name, eff in [("random", plain), ("bucketed", bucketed)]:
    print(f"{name:12}{eff['src']:10.1%}{eff['tgt']:10.1%}{eff['all']:10.1%}")
s2s.check(bucketed["src"] >= 0.85 and bucketed["tgt"] >= 0.85,
          "bucketing fills at least 85% of source and target slots with real tokens")

# %% [markdown]
# The same view for batches of 32 sentences, drawn as an image: one row per sentence, one
# column per position, black where `src != PAD` (a real token) and white where it is padding.
# The image is pinned to `vmin=0, vmax=1`, so that a real token is black and padding is white
# in both panels, even in one with no padding at all (by default `imshow` spreads the colour
# map over the values present in each image, and an image whose values are all `True` would
# be drawn in the colour of the lowest value, white).

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
for ax, loader, title in [(axes[0], make_loader(train_set, 32, bucket=False), "random batch"),
                          (axes[1], make_loader(train_set, 32, bucket=True), "bucketed batch")]:
    batch_src = next(iter(loader))[0]
    ax.imshow((batch_src != PAD).numpy(), aspect="auto", cmap="Greys", interpolation="nearest",
              vmin=0, vmax=1)
    ax.set(title=f"{title}: {tuple(batch_src.shape)}", xlabel="position", ylabel="sentence")
fig.tight_layout()
plt.show()

# %% [markdown]
# In the random batch, the longest sentence sets the width for all and white fills the rest;
# the bucketed batch here is entirely black: its 32 sentences have the same length, so it has
# no padding at all. An RNN computes over every slot of the rectangle, padding included, so
# with random batches more than half of that work goes into padding (the table above), and
# with bucketed batches almost none. Chapter 3's loss also ignores the pad slots, so that what
# padding is left does not enter the gradient.

# %% [markdown]
# ## 2.6 The library call
#
# Everything above is one call in `s2s.data`, which later chapters use: fetch, parse, tokenise,
# keep pairs of at most `max_len` tokens, split by source, and build vocabularies **from the
# training split only** (so no test word shapes the vocabulary).

# %%
from s2s.data import load_translation

data = load_translation("fra-eng", max_len=profile.max_len, max_pairs=profile.max_pairs,
                        min_freq=profile.min_freq)
batch = next(iter(data.loader("train", batch_size=profile.batch_size)))
print([tuple(t.shape) for t in batch])
s2s.check(leaked_fraction(data.splits.train + data.splits.valid, data.splits.test) == 0,
          "no test source appears in train or valid")

# %% [markdown]
# ## Exercises
#
# Five exercises, graded with nbgrader (see `homework/README.md`): the coding parts by
# the test cell under them (the visible tests, plus hidden ones when graded), the written
# answers by hand. Points are in each cell's nbgrader metadata and in the headings.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_code_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 1 (coding, 2 points).** Write `length_mask(lengths, width)` that returns the
# `(B, width)` boolean mask with `True` at the first `lengths[b]` positions of row `b` — the
# mask you would need if the pad id were not 0. Build it without a Python loop.

# %% nbgrader={"grade": false, "grade_id": "ex1_code_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    return torch.arange(width)[None, :] < lengths[:, None]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_code_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert torch.equal(length_mask(src_len, src.shape[1]), src != PAD)
### BEGIN HIDDEN TESTS
assert length_mask(torch.tensor([0, 2]), 3).tolist() == [[False] * 3, [True, True, False]]
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_code_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 2 (coding, 2 points).** The naive split leaks because a source sentence can sit
# on both sides. Write `leaked_sources(train, test)` returning the **set of distinct source
# sentences** (as tuples of tokens) that appear in both, and use it to count them for the
# naive split above.

# %% nbgrader={"grade": false, "grade_id": "ex2_code_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def leaked_sources(train, test) -> set[tuple[str, ...]]:
    ### BEGIN SOLUTION
    return {tuple(s) for s, _ in train} & {tuple(s) for s, _ in test}
    ### END SOLUTION


print(len(leaked_sources(naive_train, naive_test)), "distinct sources leak in the naive split")

# %% nbgrader={"grade": true, "grade_id": "ex2_code_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
toy_train, toy_test = [(["a"], ["x"]), (["b"], ["y"])], [(["b"], ["z"]), (["c"], ["w"])]
assert leaked_sources(toy_train, toy_test) == {("b",)}
### BEGIN HIDDEN TESTS
assert leaked_sources(splits.train, splits.test) == set()
assert len(leaked_sources(naive_train, naive_test)) > 0
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_code_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 3 (coding, 2 points).** Write `batch_order_changes(sampler)` that returns `True`
# when two epochs of a batch sampler give a different sequence of batches (a sampler is
# iterable, once per epoch, and yields lists of item indices).

# %% nbgrader={"grade": false, "grade_id": "ex3_code_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
from s2s.data import BucketBatchSampler


def batch_order_changes(sampler) -> bool:
    ### BEGIN SOLUTION
    return list(sampler) != list(sampler)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_code_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert batch_order_changes(BucketBatchSampler(train_set.lengths()[:2000], 64, seed=0))
### BEGIN HIDDEN TESTS
assert not batch_order_changes(BucketBatchSampler([(1, 1)] * 10, 64, shuffle=False))
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_concept_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 4 (written answer, 2 points).** Bucketing sorts by length. Sorting the whole
# training set once and never shuffling would fill batches just as well. Why does
# `BucketBatchSampler` shuffle the items *before* it sorts them, and shuffle the batches
# *after*? Name what would go wrong in training without each of the two shuffles.

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex4_concept_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* The sort is stable, so shuffling first decides the order of the many
# sentences that share a length: each epoch they fall into different batches. Without it,
# every epoch would cut the very same batches, each always holding the same sentences, and
# stochastic gradient descent would lose part of its randomness — the same ~930
# batches (119,552 pairs / 128) every epoch, in a fixed grouping. Shuffling the batches afterwards
# decides the order in which they are trained on. Without it, every epoch would run from the
# shortest sentences to the longest: long stretches of consecutive steps on one kind of
# sentence, whose gradients agree with each other, so the weights drift towards whatever
# lengths came last before every validation (and an optimizer with momentum, like Adam,
# follows the drift further). Exercise 3's check, `batch_order_changes`, is a test that at least
# one of the shuffles happens; it cannot tell which one.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_experiment_task", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Exercise 5 (experiment, 1 + 2 points).** §2.5 measured padding at one batch size, 128.
# Write `padding_by_batch_size(sizes)` that returns a dict from `(batch size, bucket)` — for
# every size in `sizes` and `bucket` in `(False, True)` — to the fraction of all token slots
# (source and target together, `padding_efficiency(...)["all"]`) that hold real tokens in
# one epoch of `make_loader(train_set, size, bucket=bucket)`. The cell prints a table for
# batches of 8, 32, 128 and 512. Then, in the cell after the tests: report how each kind of
# batch changes with the batch size, and explain why in terms of what sets a batch's width.

# %% nbgrader={"grade": false, "grade_id": "ex5_experiment_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def padding_by_batch_size(sizes: list[int]) -> dict[tuple[int, bool], float]:
    ### BEGIN SOLUTION
    return {(size, bucket): padding_efficiency(make_loader(train_set, size, bucket=bucket))["all"]
            for size in sizes for bucket in (False, True)}
    ### END SOLUTION


efficiency = padding_by_batch_size([8, 32, 128, 512])
print(f"{'batch size':>10}{'random':>10}{'bucketed':>10}")
for size in (8, 32, 128, 512):
    print(f"{size:10}{efficiency[size, False]:10.1%}{efficiency[size, True]:10.1%}")

# %% nbgrader={"grade": true, "grade_id": "ex5_experiment_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert set(efficiency) == {(s, b) for s in (8, 32, 128, 512) for b in (False, True)}
assert all(0 < e <= 1 for e in efficiency.values())
### BEGIN HIDDEN TESTS
assert efficiency[128, False] == plain["all"] and efficiency[128, True] == bucketed["all"]
assert all(efficiency[s, True] > efficiency[s, False] for s in (8, 32, 128, 512))
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex5_experiment_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer* (from the table printed above, at the `cpu` profile). Random batches get
# emptier as they grow: 65.1 % of the slots hold real tokens in batches of 8, 52.0 % in
# batches of 32, 42.8 % at 128 and 35.1 % at 512. A batch is as wide as its longest sentence
# (on each side), and the more sentences a random batch draws, the likelier it holds one of
# the longest sentences of the corpus: its width climbs towards the maximum length while the
# average sentence stays the same. Bucketed batches stay nearly full — 99.9 %, 99.6 %,
# 98.6 % and 95.6 % — because their sentences are neighbours in the length order. They lose
# a little as they grow because the order sorts by source length first and target length
# second: the sources of a batch have (nearly) one length, but a batch of 512 covers a wider
# range of target lengths than a batch of 8 (at 128, §2.5's table shows the padding is
# mostly on the target side). So the gap between the two grows with the batch size, from about
# 35 points at 8 to about 60 at 512: bucketing matters most where batches are large, as on a GPU.
