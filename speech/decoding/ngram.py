"""Estimating word n-gram models: :func:`train_ngram` (modified Kneser-Ney or Witten-Bell) and
:func:`build_lm` (a text file in, an ``.arpa`` file out: the step a recipe or the CLI runs before
beam search). The model and its file format are :mod:`speech.decoding.arpa`.
"""
from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence

from speech.decoding.arpa import BOS, EOS, LOG10_ZERO, UNK, ArpaLM, Ngram
from speech.text.normalize import normalize_asr_text

__all__ = ["build_lm", "read_sentences", "train_ngram"]


def _count_ngrams(sentences: Iterable[Sequence[str]], order: int) -> list[dict[Ngram, int]]:
    """Raw counts of all 1..order-grams of ``<s> w1 .. wn </s>`` (index 0 = unigrams)."""
    counts: list[dict[Ngram, int]] = [defaultdict(int) for _ in range(order)]
    for words in sentences:
        seq = (BOS, *words, EOS)
        for n in range(1, order + 1):
            table = counts[n - 1]
            for i in range(len(seq) - n + 1):
                table[seq[i:i + n]] += 1
    return [dict(c) for c in counts]


def _kn_adjusted_counts(raw: list[dict[Ngram, int]]) -> list[dict[Ngram, int]]:
    """Kneser-Ney counts: raw for the top order and n-grams starting with ``<s>``, else continuation counts.

    The continuation count of ``g`` is the number of distinct words ``v`` with ``v g`` seen.
    """
    order = len(raw)
    adj: list[dict[Ngram, int]] = [dict() for _ in range(order)]
    adj[order - 1] = dict(raw[order - 1])
    for n in range(order - 1, 0, -1):  # n = length of the lower-order n-grams (1-based)
        cont: dict[Ngram, int] = defaultdict(int)
        for g in raw[n]:  # (n+1)-grams
            cont[g[1:]] += 1
        for g, c in raw[n - 1].items():
            adj[n - 1][g] = c if g[0] == BOS else cont.get(g, 0)
    return adj


def _modified_kn_discounts(counts: dict[Ngram, int]) -> tuple[float, float, float]:
    """(D1, D2, D3+) from the count-of-counts n1..n4 (Chen & Goodman 1998).

    ``Y = n1 / (n1 + 2 n2)``, ``Dk = k - (k + 1) Y n(k+1) / nk``. When the data is too small for
    an estimate (``nk = 0``, or a result outside ``(0, k]``), that discount falls back to
    ``0.5``, ``1.0`` or ``1.5`` respectively.
    """
    nk = [0] * 5
    for c in counts.values():
        if 1 <= c <= 4:
            nk[c] += 1
    y = nk[1] / (nk[1] + 2 * nk[2]) if nk[1] + 2 * nk[2] > 0 else 0.5
    fallback = (0.5, 1.0, 1.5)
    out = []
    for k in (1, 2, 3):
        d = k - (k + 1) * y * nk[k + 1] / nk[k] if nk[k] > 0 else -1.0
        out.append(d if 0.0 < d <= k else fallback[k - 1])
    return out[0], out[1], out[2]


def _to_log10(p: float) -> float:
    """log10 of a probability, -99 (the ARPA "zero") for 0."""
    return math.log10(p) if p > 0 else LOG10_ZERO


def train_ngram(sentences: Iterable[Sequence[str]], order: int = 3, method: str = "kneser-ney",
                discount: float | None = None, unk: bool = True) -> ArpaLM:
    """Estimate a backoff n-gram model from tokenized sentences.

    Methods (both *interpolated*, then stored in the equivalent ARPA backoff form):

    - ``"kneser-ney"``: interpolated **modified** Kneser-Ney (Chen & Goodman 1998) with three
      discounts D1, D2, D3+ per order estimated from that order's count-of-counts; lower orders use
      continuation counts (n-grams starting with ``<s>`` keep raw counts, as nothing precedes
      them). With ``discount=D`` it is plain interpolated Kneser-Ney with one absolute discount
      ``0 < D <= 1`` at every order.
    - ``"witten-bell"``: interpolated Witten-Bell, ``P(w|h) = (c(h w) + T(h) P(w|h')) / (c(h) + T(h))``
      with ``T(h)`` the number of distinct words seen after ``h``.

    The recursion ends in the uniform distribution over the predicted vocabulary (all words,
    ``</s>`` and, with ``unk=True``, ``<unk>``), so every word has a non-zero probability and
    ``<unk>`` gets a share of the unigram mass for words never seen in training. For every
    context that the model lists, the probabilities over that vocabulary sum to 1; the backoff
    weight of a context is the interpolation weight of its lower order. ``<s>`` is listed with
    log10 probability -99 (never predicted).

    Args:
        sentences: each a list of words (no ``<s>`` / ``</s>``).
        order: highest n-gram order (>= 1).
        method: ``"kneser-ney"`` or ``"witten-bell"``.
        discount: fixed absolute discount for Kneser-Ney (None: modified KN with estimated discounts).
        unk: add ``<unk>`` to the vocabulary.

    Returns:
        The model; :meth:`ArpaLM.save` writes it as an ARPA file.
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    method = method.lower().replace("_", "-")
    if method not in ("kneser-ney", "witten-bell"):
        raise ValueError(f"unknown smoothing method {method!r}; expected 'kneser-ney' or 'witten-bell'")
    if discount is not None and not 0.0 < discount <= 1.0:
        raise ValueError(f"discount must be in (0, 1], got {discount}")
    raw = _count_ngrams(sentences, order)
    if not raw[0]:
        raise ValueError("cannot train a language model on no sentences")
    predicted = {g[0] for g in raw[0] if g[0] != BOS}
    if unk:
        predicted.add(UNK)
    uniform = 1.0 / len(predicted)
    counts = _kn_adjusted_counts(raw) if method == "kneser-ney" else raw

    probs: dict[Ngram, float] = {}  # n-gram -> interpolated probability (linear domain)
    bows: dict[Ngram, float] = {}   # context -> interpolation weight of the lower order
    for n in range(1, order + 1):
        table = counts[n - 1]
        if method == "kneser-ney":
            if discount is not None:
                d1 = d2 = d3 = discount
            else:
                d1, d2, d3 = _modified_kn_discounts({g: c for g, c in table.items() if g[-1] != BOS})
        # group by context
        by_ctx: dict[Ngram, list[tuple[str, int]]] = defaultdict(list)
        for g, c in table.items():
            if g[-1] == BOS or c <= 0:
                continue
            by_ctx[g[:-1]].append((g[-1], c))
        for ctx, items in by_ctx.items():
            total = sum(c for _, c in items)
            if method == "kneser-ney":
                taken = 0.0
                for w, c in items:
                    taken += min(c, d1 if c == 1 else d2 if c == 2 else d3)
                gamma = taken / total
                denom = total
            else:
                types = len(items)
                gamma = types / (total + types)
                denom = total + types
            for w, c in items:
                if method == "kneser-ney":
                    own = max(c - (d1 if c == 1 else d2 if c == 2 else d3), 0.0) / denom
                else:
                    own = c / denom
                if n == 1:
                    lower = uniform
                else:
                    lower = _interp(probs, bows, ctx[1:] + (w,), uniform)
                probs[ctx + (w,)] = own + gamma * lower
            if n == 1:
                unigram_gamma = gamma
            else:
                bows[ctx] = gamma
    # unigrams never seen as predicted words (e.g. <unk>) get only the uniform share
    for w in predicted:
        if (w,) not in probs:
            probs[(w,)] = unigram_gamma * uniform
    log_probs = {g: _to_log10(p) for g, p in probs.items()}
    log_probs[(BOS,)] = LOG10_ZERO
    log_bows = {g: _to_log10(b) for g, b in bows.items() if g in log_probs}
    if order > 1:
        log_bows.setdefault((BOS,), 0.0)
    return ArpaLM(log_probs, log_bows)


def _interp(probs: dict[Ngram, float], bows: dict[Ngram, float], ngram: Ngram, uniform: float) -> float:
    """Interpolated probability of ``ngram`` from the lower orders computed so far (linear domain)."""
    weight = 1.0
    while True:
        p = probs.get(ngram)
        if p is not None:
            return weight * p
        if len(ngram) == 1:  # never happens for trained words; kept for safety
            return weight * uniform
        weight *= bows.get(ngram[:-1], 1.0)
        ngram = ngram[1:]


def read_sentences(text_file: str | os.PathLike, normalize: bool = True) -> list[list[str]]:
    """Words of each non-empty line of a text file.

    A line containing ``|`` (e.g. LJSpeech ``metadata.csv``: ``id|raw|normalized``) contributes
    its last column. With ``normalize`` the text goes through
    :func:`speech.text.normalize.normalize_asr_text` first.
    """
    out: list[list[str]] = []
    with open(text_file, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if "|" in line:
                line = line.rsplit("|", 1)[1]
            if normalize:
                line = normalize_asr_text(line)
            words = line.split()
            if words:
                out.append(words)
    return out


def build_lm(text_file: str | os.PathLike, out_arpa: str | os.PathLike, order: int = 3,
             method: str = "kneser-ney", normalize: bool = True) -> ArpaLM:
    """Train an n-gram model on a text file (one sentence a line) and write it as ARPA.

    Args:
        text_file: plain text, or a ``|``-separated file whose last column is the text.
        out_arpa: output path (written atomically).
        order, method: see :func:`train_ngram`.
        normalize: apply :func:`speech.text.normalize.normalize_asr_text` to every line (so
            the LM's words match the ASR transcripts).

    Returns:
        The trained model.
    """
    lm = train_ngram(read_sentences(text_file, normalize=normalize), order=order, method=method)
    lm.save(out_arpa)
    return lm
