"""Data: from raw Tatoeba files to padded batches.

Special token ids are fixed in every vocabulary of the course."""

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
