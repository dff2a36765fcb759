# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/s2s-course/seq2seq/blob/main/chapters/01_encoder_decoder.ipynb)
#
# # 1. The encoder–decoder interface
#
# A translation system reads a sentence of one length and writes a sentence of another:
# *"I am cold ."* has four tokens, *"j'ai froid ."* has three. A single network that maps each
# input position to one output position cannot do that. The encoder–decoder answer is to split
# the job in two: an **encoder** reads the whole input and turns it into a *state*; a **decoder**
# starts from that state and writes the output one token at a time, from `<bos>` (begin of
# sequence) until it writes `<eos>` (end of sequence).
#
# **In this chapter you will learn**
# 1. why variable-length input *and* output call for two networks joined by a state;
# 2. the interface every model of this course obeys (`Encoder`, `Decoder.init_state`,
#    `Decoder.forward`, `Decoder.step`, `EncoderDecoder`) and the shape of every tensor in it;
# 3. how a decoder generates from `<bos>` to `<eos>`;
# 4. why squeezing a whole sentence into one fixed-size *context vector* is a bottleneck —
#    measured on a toy task, not asserted.

# %% [markdown]
# The next cell only does something on Colab: it installs the course's small `s2s` package
# (Colab's own PyTorch is kept). On your machine, `make lab` has already installed it.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q",
         "s2s-course @ git+https://github.com/s2s-course/seq2seq"],
        check=True,
    )

# %% [markdown]
# Every chapter starts the same way: `s2s.setup()` picks the *run profile* (`ci`, `cpu` or `gpu`,
# from `S2S_PROFILE` or from your hardware), the device, and seeds every random generator.
# The profile decides sizes — here, how long we train the toy model at the end.

# %%
import torch
from torch import nn

import s2s

profile, device = s2s.setup()

# %% [markdown]
# ## 1.1 The interface
#
# The library defines three small base classes in `s2s.models`. Every model in the course —
# the GRU model of chapter 3, the attention models of chapter 4 — fills them in, and the
# decoding code of chapter 5 only talks to this interface. Tensors are batch-first: `B` is the
# batch size, `S` the source length, `T` the target length, `H` a hidden size, `V` the target
# vocabulary size.
#
# | call | input shapes | returns |
# |---|---|---|
# | `Encoder.forward(src, src_len)` | `(B, S)`, `(B,)` | outputs `(B, S, H)`, state |
# | `Decoder.init_state(enc_outputs, src_len)` | encoder's return value, `(B,)` | state |
# | `Decoder.forward(tgt_in, state)` | `(B, T)` | logits `(B, T, V)`, state |
# | `Decoder.step(token, state)` | `(B,)` | logits `(B, V)`, state |
# | `EncoderDecoder(src, src_len, tgt_in)` | `(B, S)`, `(B,)`, `(B, T)` | logits `(B, T, V)` |
#
# `forward` is for training: the decoder sees the whole correct target at once, shifted right by
# one (`<bos> y1 y2 …`), and predicts the next token at every position — *teacher forcing*.
# `step` is for inference: one token in, the distribution over the next token out.
#
# The token ids are fixed across the course: `<pad>` is 0 (so a mask is simply `ids != 0`),
# then `<unk>`, `<bos>`, `<eos>`.

# %%
from s2s.data import BOS, EOS, PAD, UNK
from s2s.models import Decoder, Encoder, EncoderDecoder

print({"<pad>": PAD, "<unk>": UNK, "<bos>": BOS, "<eos>": EOS})

# %% [markdown]
# ## 1.2 A toy encoder
#
# Our toy vocabulary has the four special tokens and the ten digits `0`–`9` (ids 4–13). The
# encoder embeds each token and runs a GRU over the sequence. The GRU's last hidden state has
# seen every input token: it is the **context vector** that the decoder will start from.
#
# Every sequence in a toy batch has the same length, so `src_len` is only carried along here;
# chapter 2 introduces padding and chapter 3 makes the encoder respect it.

# %%
V = 14  # 4 special tokens + 10 digits


def digits_to_ids(digits: str) -> list[int]:
    return [4 + int(d) for d in digits]


def ids_to_digits(ids: list[int]) -> str:
    return "".join(str(i - 4) if i >= 4 else f"<{i}>" for i in ids)


class ToyEncoder(Encoder):
    """Embedding + one GRU layer. outputs: (B, S, H); state: (1, B, H)."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size, hidden_size, batch_first=True)

    def forward(self, src, src_len):
        emb = self.embedding(src)  # (B, S, E)
        outputs, state = self.rnn(emb)  # (B, S, H), (1, B, H)
        return outputs, state


# %% [markdown]
# Let us push a batch of two 5-digit sequences through it and print every shape.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
encoder = ToyEncoder(V, embed_size=16, hidden_size=32)
src = torch.tensor([digits_to_ids("12345"), digits_to_ids("90210")])  # (B=2, S=5)
src_len = torch.tensor([5, 5])
enc_outputs, enc_state = encoder(src, src_len)
print("src         ", tuple(src.shape))
print("enc outputs ", tuple(enc_outputs.shape), "  one H-vector per source position")
print("enc state   ", tuple(enc_state.shape), "  (layers, B, H): the last position's vector")
print("state == last output:", torch.allclose(enc_state[0], enc_outputs[:, -1]))

# %% [markdown]
# ## 1.3 A toy decoder
#
# The decoder's `init_state` keeps two things from the encoder: the context vector `c` (the
# top layer's last state), and the GRU's hidden state to start from. At every step the decoder's
# GRU reads the embedding of the previous token **concatenated with `c`** — the design of Cho
# et al. (2014) and of d2l's `Seq2SeqDecoder` — and a linear layer turns its output into
# logits over the vocabulary.

# %%
class ToyDecoder(Decoder):
    """GRU decoder fed the context vector at every step.

    State: (context (B, H), hidden (1, B, H))."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)

    def init_state(self, enc_outputs, src_len):
        _, enc_state = enc_outputs
        return enc_state[-1], enc_state  # context (B, H), hidden (1, B, H)

    def forward(self, tgt_in, state):
        context, hidden = state
        emb = self.embedding(tgt_in)  # (B, T, E)
        ctx = context[:, None, :].expand(-1, tgt_in.shape[1], -1)  # (B, T, H)
        outputs, hidden = self.rnn(torch.cat([emb, ctx], dim=-1), hidden)  # (B, T, H)
        return self.out(outputs), (context, hidden)  # logits (B, T, V)


# %% [markdown]
# With teacher forcing, the decoder gets `<bos>` followed by the target minus its last token,
# and produces one distribution over the vocabulary per position. `EncoderDecoder` wires the
# two halves together: encode, `init_state`, decode.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
decoder = ToyDecoder(V, embed_size=16, hidden_size=32)
model = EncoderDecoder(encoder, decoder)
tgt = torch.tensor([digits_to_ids("54321"), digits_to_ids("01209")])  # the reversed inputs
tgt_in = torch.cat([torch.full((2, 1), BOS), tgt], dim=1)  # (B, T=6): <bos> y1 .. y5
tgt_out = torch.cat([tgt, torch.full((2, 1), EOS)], dim=1)  # (B, T=6): y1 .. y5 <eos>
logits = model(src, src_len, tgt_in)
print("tgt_in ", tuple(tgt_in.shape), ids_to_digits(tgt_in[0].tolist()))
print("tgt_out", tuple(tgt_out.shape), ids_to_digits(tgt_out[0].tolist()))
print("logits ", tuple(logits.shape), "  (B, T, V)")
state = model.encode(src, src_len)
step_logits, state = decoder.step(torch.full((2,), BOS), state)
print("one step:", tuple(step_logits.shape), "  (B, V)")

# %% [markdown]
# ## 1.4 Generating from `<bos>` to `<eos>`
#
# At inference time there is no target to feed. The decoder starts from `<bos>`, picks the most
# likely next token (*greedy decoding*), feeds it back in, and stops a sequence once it has
# written `<eos>` — or at a maximum length, so that a model that never says `<eos>` still stops.
# This is the loop every later decoder builds on (chapter 5 replaces "pick the most likely" with
# beam search).

# %%
@torch.no_grad()
def greedy_generate(model: EncoderDecoder, src, src_len, max_len: int) -> list[list[int]]:
    """Greedy decoding. src: (B, S). Returns B token-id lists, each cut before its <eos>."""
    state = model.encode(src, src_len)
    token = torch.full((src.shape[0],), BOS, dtype=torch.long)  # (B,)
    finished = torch.zeros(src.shape[0], dtype=torch.bool)  # (B,)
    outputs: list[list[int]] = [[] for _ in range(src.shape[0])]
    for _ in range(max_len):
        logits, state = model.decoder.step(token, state)  # (B, V)
        token = logits.argmax(dim=-1)  # (B,)
        for b in range(src.shape[0]):
            if not finished[b] and token[b] != EOS:
                outputs[b].append(int(token[b]))
        finished |= token == EOS
        if finished.all():
            break
    return outputs


print([ids_to_digits(ids) for ids in greedy_generate(model, src, src_len, max_len=8)])

# %% [markdown]
# The model is untrained, so it writes noise — but the loop already stops at the maximum
# length. Let us train it.

# %% [markdown]
# ## 1.5 The context-vector bottleneck, measured
#
# Everything the decoder knows about the source arrives through `c`, a vector of 32 numbers,
# whether the input has 2 digits or 20. To see what that costs, we train the toy model on a task
# with a known answer — **reverse a sequence of random digits** — with lengths from 1 to 20, and
# then measure how many output digits it gets right as the input grows. (The profile decides how
# many training steps: a few hundred under `ci`, a few thousand otherwise.)

# %%
def reverse_batch(batch_size: int, length: int, generator: torch.Generator):
    """A batch of random digit sequences and their reversals: src (B, L), tgt_in/out (B, L+1)."""
    src = torch.randint(4, 14, (batch_size, length), generator=generator)
    tgt = src.flip(1)
    bos = torch.full((batch_size, 1), BOS)
    eos = torch.full((batch_size, 1), EOS)
    src_len = torch.full((batch_size,), length)
    return src, src_len, torch.cat([bos, tgt], 1), torch.cat([tgt, eos], 1)


s2s.seed_everything(0)
model = EncoderDecoder(ToyEncoder(V, 16, 32), ToyDecoder(V, 16, 32))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
gen = torch.Generator().manual_seed(0)
losses = []
for _ in range(profile.toy_steps):
    length = int(torch.randint(1, 21, (), generator=gen))
    src_b, len_b, tgt_in_b, tgt_out_b = reverse_batch(128, length, gen)
    logits = model(src_b, len_b, tgt_in_b)  # (B, L+1, V)
    loss = nn.functional.cross_entropy(logits.reshape(-1, V), tgt_out_b.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"{profile.toy_steps} steps; mean loss over the last 100: {sum(losses[-100:]) / 100:.3f}")

# %% [markdown]
# Now the measurement: for each length, 200 fresh random sequences, decoded greedily (no
# teacher forcing), and the fraction of positions where the output digit is right.

# %%
lengths = list(range(1, 21))
accuracy = []
model.eval()
for length in lengths:
    src_b, len_b, _, tgt_out_b = reverse_batch(200, length, gen)
    hyps = greedy_generate(model, src_b, len_b, max_len=length + 5)
    right = sum(
        sum(h == r for h, r in zip(hyp, ref, strict=False))
        for hyp, ref in zip(hyps, tgt_out_b[:, :-1].tolist(), strict=True)
    )
    accuracy.append(right / (200 * length))
print("length:  ", " ".join(f"{n:4d}" for n in lengths))
print("accuracy:", " ".join(f"{a:4.2f}" for a in accuracy))

# %%
import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
ax1.plot(losses, lw=0.6)
ax1.set(xlabel="training step", ylabel="cross-entropy", yscale="log",
        title="Training the toy reverser")
ax2.plot(lengths, accuracy, marker="o")
ax2.set(xlabel="input length (digits)", ylabel="digits right (greedy)", ylim=(0, 1.05),
        title="One 32-number context vector for every length")
fig.tight_layout()
plt.show()

# %% [markdown]
# Short sequences come back almost perfectly; long ones do not. The decoder is not the problem —
# it has the same capacity at every length — the fixed-size context is: the encoder must pack
# twenty digits into 32 numbers, and the decoder has no other way to look back at the input.
# Chapter 4's **attention** removes this bottleneck by letting the decoder look at *every*
# encoder output at every step. Before that, chapter 2 builds the real data pipeline and
# chapter 3 trains this design on real sentences.

# %%
s2s.check(accuracy[0] > accuracy[-1], "the context vector holds short inputs better than long ones")

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** `greedy_generate` above loops over the batch in Python to cut each output at
# its `<eos>`. Write `cut_at_eos(tokens)` that takes a `(B, T)` tensor of generated ids and
# returns B lists, each holding the ids *before* that row's first `<eos>` (the whole row if it
# has none).

# %%
def cut_at_eos(tokens: torch.Tensor) -> list[list[int]]:
    ### BEGIN SOLUTION
    out = []
    for row in tokens.tolist():
        out.append(row[: row.index(EOS)] if EOS in row else row)
    return out
    ### END SOLUTION


# %%
assert cut_at_eos(torch.tensor([[5, 6, EOS, 7], [EOS, 4, 4, 4], [8, 9, 10, 11]])) == [
    [5, 6], [], [8, 9, 10, 11]]
### BEGIN HIDDEN TESTS
assert cut_at_eos(torch.tensor([[EOS, EOS]])) == [[]]
assert cut_at_eos(torch.zeros((0, 3), dtype=torch.long)) == []
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** The last encoder state is one choice of context vector. Write a decoder,
# `MeanContextDecoder`, that is a `ToyDecoder` in every way except that its context vector is the
# **mean of the encoder outputs over time**, `(B, S, H) -> (B, H)`. (Its GRU still starts from
# the encoder's last state.)

# %%
class MeanContextDecoder(ToyDecoder):
    def init_state(self, enc_outputs, src_len):
        ### BEGIN SOLUTION
        outputs, enc_state = enc_outputs
        return outputs.mean(dim=1), enc_state
        ### END SOLUTION


# %%
torch.manual_seed(1)
_enc = ToyEncoder(V, 8, 12)
_outs = _enc(src, src_len)
_ctx, _hidden = MeanContextDecoder(V, 8, 12).init_state(_outs, src_len)
assert _ctx.shape == (2, 12)
assert torch.allclose(_ctx, _outs[0].mean(dim=1))
### BEGIN HIDDEN TESTS
assert _hidden.shape == (1, 2, 12)
_logits = EncoderDecoder(_enc, MeanContextDecoder(V, 8, 12))(src, src_len, tgt_in)
assert _logits.shape == (2, 6, V)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 3 (think).** The accuracy curve above was measured with a 32-number context. Predict
# what happens to the curve with a 128-number context, then try it (change the two `32`s in the
# training cell). Why does a bigger vector help but not remove the problem?
#
# *Solution.* A bigger context stores more digits, so the curve stays high for longer, but any
# fixed size is eventually too small for long enough inputs, and the encoder's single pass must
# still compress the whole sequence before the decoder writes anything. Only a mechanism that
# lets the decoder read every encoder position — attention, chapter 4 — removes the limit.
