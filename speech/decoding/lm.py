"""Word n-gram language models in the ARPA backoff format, under one name.

The model, its backoff recursion and its file format are :mod:`speech.decoding.arpa`
(:class:`ArpaLM`); estimating one from text (interpolated modified Kneser-Ney or Witten-Bell,
:func:`train_ngram`, and :func:`build_lm` from a text file to an ``.arpa`` file) is
:mod:`speech.decoding.ngram`.
"""
from speech.decoding.arpa import BOS, EOS, UNK, ArpaFormatError, ArpaLM
from speech.decoding.ngram import build_lm, read_sentences, train_ngram

__all__ = ["ArpaLM", "ArpaFormatError", "train_ngram", "build_lm", "read_sentences", "BOS", "EOS", "UNK"]
