"""Word n-gram language models in the ARPA backoff format.

An :class:`ArpaLM` holds, for every listed n-gram, its log10 probability and (for n-grams that are
also contexts) a log10 backoff weight, exactly as in an ARPA file::

    \\data\\
    ngram 1=4
    ngram 2=2

    \\1-grams:
    -99      <s>    -0.30103
    -0.69897 </s>
    -0.39794 a      -0.17609
    -0.52288 b

    \\2-grams:
    -0.09691 <s> a
    -0.30103 a b

    \\end\\

The probability of ``w`` after the history ``h`` follows the standard backoff recursion::

    P(w | h) = P*(h w)                        if the n-gram "h w" is listed
             = bow(h) * P(w | h[1:])           otherwise (bow(h) = 1 when h is not listed)

:func:`train_ngram` estimates such a model from tokenized sentences with interpolated modified
Kneser-Ney (Chen & Goodman) or interpolated Witten-Bell smoothing, and :func:`build_lm` does it
from a text file and writes the ``.arpa`` file (the step a recipe or CLI runs before beam search).

The code lives by role in :mod:`speech.decoding.arpa` (the model and its file format) and
:mod:`speech.decoding.ngram` (estimation); this module gathers both under one name.
"""
from speech.decoding.arpa import BOS, EOS, UNK, ArpaFormatError, ArpaLM
from speech.decoding.ngram import build_lm, read_sentences, train_ngram

__all__ = ["ArpaLM", "ArpaFormatError", "train_ngram", "build_lm", "read_sentences", "BOS", "EOS", "UNK"]
