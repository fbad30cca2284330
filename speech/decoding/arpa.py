"""Word n-gram language models in the ARPA backoff format: :class:`ArpaLM` (queries, load, save).

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

Estimating a model from text is :mod:`speech.decoding.ngram`.
"""
from __future__ import annotations

import io
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from speech.fileio import atomic_writer

__all__ = ["ArpaLM", "ArpaFormatError", "BOS", "EOS", "UNK", "LOG10_ZERO", "Ngram"]

BOS = "<s>"
"""Sentence-start marker (a context only; never predicted)."""
EOS = "</s>"
"""Sentence-end marker (predicted after the last word)."""
UNK = "<unk>"
"""Unknown-word token; words outside the vocabulary are scored as this when the model has it."""

LOG10_ZERO = -99.0
"""ARPA convention for "probability zero" (used for ``<s>``)."""


class ArpaFormatError(ValueError):
    """A malformed ARPA file; the message reads ``FILE:LINE: expected ..., got ...``."""


Ngram = tuple[str, ...]


class ArpaLM:
    """A backoff word n-gram model with log10 probabilities, as stored in ARPA files.

    Attributes:
        order: the highest n-gram order.
        vocab: every word listed as a unigram (including ``<s>``, ``</s>`` and ``<unk>`` when present).
        oov_log10: log10 probability given to a word that is not in :attr:`vocab` when the model has
            no ``<unk>`` unigram (default -10, i.e. 1e-10; it is a floor, not a normalized probability,
            so perplexities of texts with such words are only indicative).
    """

    def __init__(self, probs: dict[Ngram, float], backoffs: dict[Ngram, float] | None = None,
                 oov_log10: float = -10.0):
        """Create a model from its tables.

        Args:
            probs: n-gram (tuple of words) -> log10 probability, for every order 1..N.
            backoffs: n-gram -> log10 backoff weight (absent means 0, i.e. weight 1).
            oov_log10: see :attr:`oov_log10`.

        Raises:
            ValueError: when there is no unigram.
        """
        self._probs: dict[Ngram, float] = dict(probs)
        self._bows: dict[Ngram, float] = dict(backoffs or {})
        if not any(len(g) == 1 for g in self._probs):
            raise ValueError("an n-gram model needs at least one unigram")
        self.order: int = max(len(g) for g in self._probs)
        self.vocab: set[str] = {g[0] for g in self._probs if len(g) == 1}
        self.oov_log10 = float(oov_log10)
        self._has_unk = UNK in self.vocab

    # -- queries ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        """``ArpaLM(order=N, 1-grams=.., ...)``."""
        counts = ", ".join(f"{n}-grams={c}" for n, c in enumerate(self.counts(), 1))
        return f"ArpaLM(order={self.order}, {counts})"

    def counts(self) -> list[int]:
        """Number of listed n-grams per order (index 0 = unigrams)."""
        out = [0] * self.order
        for g in self._probs:
            out[len(g) - 1] += 1
        return out

    def ngrams(self, n: int) -> dict[Ngram, tuple[float, float | None]]:
        """All listed n-grams of order ``n`` -> (log10 prob, log10 backoff or None)."""
        return {g: (p, self._bows.get(g)) for g, p in self._probs.items() if len(g) == n}

    def _map(self, word: str) -> str:
        """A word as the model knows it: itself, ``<unk>``, or itself when neither (then it is OOV)."""
        if word in self.vocab or not self._has_unk:
            return word
        return UNK

    def _backoff_prob(self, ngram: Ngram) -> float:
        """log10 P(ngram[-1] | ngram[:-1]) by the backoff recursion (words already mapped)."""
        bow = 0.0
        while True:
            p = self._probs.get(ngram)
            if p is not None:
                return bow + p
            if len(ngram) == 1:
                return bow + self.oov_log10
            bow += self._bows.get(ngram[:-1], 0.0)
            ngram = ngram[1:]

    def log10_prob(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 P(word | context) with backoff.

        Args:
            word: the predicted word (``</s>`` for the sentence end). A word outside :attr:`vocab`
                is scored as ``<unk>`` when the model has it, else gets :attr:`oov_log10`.
            context: preceding words, oldest first (e.g. ``("<s>", "the")``); only the last
                ``order - 1`` are used. Unknown context words are mapped to ``<unk>`` as well.
        """
        n = self.order - 1
        ctx = tuple(context)[-n:] if n > 0 else ()
        ngram = tuple(self._map(w) for w in ctx) + (self._map(word),)
        if ngram[-1] not in self.vocab:
            return self.oov_log10
        return self._backoff_prob(ngram)

    def score_sentence(self, words: Sequence[str], bos: bool = True, eos: bool = True) -> float:
        """log10 probability of a sentence: ``P(w1 | <s>) ... P(</s> | ... wn)``."""
        state = self.initial_state() if bos else ()
        total = 0.0
        for w in words:
            lp, state = self.advance(state, w)
            total += lp
        if eos:
            total += self.final(state)
        return total

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """Perplexity ``10 ** (-sum log10 P / N)`` over sentences, N = words + one ``</s>`` each.

        Every word counts, OOV ones included (scored as ``<unk>`` or the :attr:`oov_log10` floor).
        """
        total, count = 0.0, 0
        for words in sentences:
            words = list(words)
            total += self.score_sentence(words)
            count += len(words) + 1
        if count == 0:
            raise ValueError("perplexity of an empty text is undefined")
        return 10.0 ** (-total / count)

    # -- incremental scoring for decoders ---------------------------------------------------

    def _truncate(self, state: Ngram) -> Ngram:
        """Drop old words until the state is a listed n-gram (or empty): same probabilities, fewer states."""
        state = state[-(self.order - 1):] if self.order > 1 else ()
        while state and state not in self._probs:
            state = state[1:]
        return state

    def initial_state(self) -> Ngram:
        """Decoder state at the start of a sentence: the history ``(<s>,)`` (``()`` for unigram models)."""
        return self._truncate((BOS,))

    def advance(self, state: Ngram, word: str) -> tuple[float, Ngram]:
        """Score ``word`` after ``state``; returns (log10 prob, next state).

        The state is the last ``order - 1`` (mapped) words, shortened to the longest suffix that
        is listed in the model: a history that is not listed has no backoff weight and no
        continuations, so the shorter one gives the same probabilities and lets a beam search
        merge more hypotheses.
        """
        mapped = self._map(word)
        lp = self.log10_prob(mapped, state)
        return lp, self._truncate(state + (mapped,))

    def final(self, state: Ngram) -> float:
        """log10 probability of the sentence end ``</s>`` after ``state``."""
        return self.log10_prob(EOS, state)

    # -- persistence ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike, oov_log10: float = -10.0) -> ArpaLM:
        """Read an ARPA file (UTF-8).

        Text before ``\\data\\`` is ignored (comments); blank lines are ignored. The ``ngram N=C``
        counts must match the sections, which must come in order 1..N, and ``\\end\\`` must close
        the file.

        Raises:
            ArpaFormatError: ``FILE:LINE: expected ..., got '...'`` for the first problem found.
        """
        path = Path(path)
        probs: dict[Ngram, float] = {}
        bows: dict[Ngram, float] = {}
        declared: dict[int, int] = {}
        seen: dict[int, int] = defaultdict(int)
        stage = "preamble"  # preamble -> data -> (section n) -> end
        n = 0
        lineno = 0

        def fail(what: str, line: str) -> ArpaFormatError:
            return ArpaFormatError(f"{path}:{lineno}: expected {what}, got {line.strip()!r}")

        with open(path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.strip()
                if stage == "preamble":
                    if line == "\\data\\":
                        stage = "data"
                    continue
                if not line:
                    continue
                if stage == "end":
                    raise fail("nothing after \\end\\", line)
                if line == "\\end\\":
                    if stage == "data":
                        raise fail("an '\\1-grams:' section before \\end\\", line)
                    if n != max(declared):
                        raise fail(f"the '\\{n + 1}-grams:' section (declared in \\data\\)", line)
                    if seen[n] != declared[n]:
                        raise fail(f"{declared[n]} {n}-grams as declared in \\data\\ (found {seen[n]})", line)
                    stage = "end"
                    continue
                if line.startswith("\\") and line.endswith("-grams:"):
                    try:
                        k = int(line[1:-len("-grams:")])
                    except ValueError:
                        raise fail("a section header like '\\2-grams:'", line) from None
                    if stage == "data" and not declared:
                        raise fail("'ngram N=COUNT' lines after \\data\\", line)
                    if k != n + 1 or k not in declared:
                        raise fail(f"the '\\{n + 1}-grams:' section" if n + 1 in declared else "\\end\\", line)
                    if n and seen[n] != declared[n]:
                        raise fail(f"{declared[n]} {n}-grams as declared in \\data\\ (found {seen[n]})", line)
                    n, stage = k, "section"
                    continue
                if stage == "data":
                    key, _, val = line.partition("=")
                    parts = key.split()
                    try:
                        if len(parts) != 2 or parts[0] != "ngram":
                            raise ValueError
                        k, c = int(parts[1]), int(val)
                        if k != len(declared) + 1 or c < 0:
                            raise ValueError
                    except ValueError:
                        raise fail(f"'ngram {len(declared) + 1}=COUNT' or '\\1-grams:'", line) from None
                    declared[k] = c
                    continue
                # an n-gram line: prob w1 .. wn [bow]
                fields = line.split()
                if len(fields) not in (n + 1, n + 2):
                    raise fail(f"'log10prob' + {n} word(s) + optional backoff", line)
                try:
                    p = float(fields[0])
                    bow = float(fields[n + 1]) if len(fields) == n + 2 else None
                except ValueError:
                    raise fail("numbers for the log10 probability and backoff", line) from None
                if p > 0 or (bow is not None and not math.isfinite(bow)) or math.isnan(p):
                    raise fail("a log10 probability <= 0 and a finite backoff", line)
                gram = tuple(fields[1:n + 1])
                if gram in probs:
                    raise fail("each n-gram once (this one is repeated)", line)
                seen[n] += 1
                if seen[n] > declared[n]:
                    raise fail(f"at most {declared[n]} {n}-grams as declared in \\data\\", line)
                probs[gram] = p
                if bow is not None:
                    bows[gram] = bow
        lineno += 1
        if stage == "preamble":
            raise fail("a '\\data\\' line", "<end of file>")
        if stage != "end":
            raise fail("'\\end\\'", "<end of file>")
        return cls(probs, bows, oov_log10=oov_log10)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as an ARPA file (UTF-8), through :func:`speech.fileio.atomic_writer`.

        N-grams are written per order in sorted order; backoff weights only where the model has
        one. Floats are written with ``repr`` so that :meth:`load` gives back identical values.
        """
        path = Path(path)
        by_order: list[list[Ngram]] = [[] for _ in range(self.order)]
        for g in self._probs:
            by_order[len(g) - 1].append(g)
        with atomic_writer(path) as raw:
            f = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            f.write("\n\\data\\\n")
            for k, grams in enumerate(by_order, 1):
                f.write(f"ngram {k}={len(grams)}\n")
            for k, grams in enumerate(by_order, 1):
                f.write(f"\n\\{k}-grams:\n")
                for g in sorted(grams):
                    bow = self._bows.get(g)
                    line = f"{self._probs[g]!r}\t{' '.join(g)}"
                    if bow is not None:
                        line += f"\t{bow!r}"
                    f.write(line + "\n")
            f.write("\n\\end\\\n")
            f.detach()  # flushes; the binary file stays open for atomic_writer to fsync and rename
        return path
