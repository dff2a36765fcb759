"""The version of what training produces: part of every cached model's key.

A cached model (`s2s.zoo.cached_model`) is reused only while CACHE_VERSION is unchanged.
Raise it when a change alters what training produces — the models, the loop, the loss,
batching, tokenisation, vocabularies, seeding — so that every learner's cache retrains.

Nobody has to remember: tests/numerics.py records what the library computes (every model
kind with every attention score: logits, searches, a few training steps' losses; the data
pipeline's tokens, vocabularies and batches; the chapters' configs and cache file names)
together with the CACHE_VERSION it was recorded under, and tests/test_numerics.py fails
when the numbers change. Then raise CACHE_VERSION and re-record:

    PYTHONPATH=utils python tests/numerics.py

which refuses to re-record changed numbers under the old version. An edit that changes no
number (a message, a comment, a refactoring) keeps every cached model."""

CACHE_VERSION = 3
