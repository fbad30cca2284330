"""Token and word spans from a forced alignment, and writers for them (JSON, Praat TextGrid).

The alignment comes from :func:`speech.kernels.align.align_states`: one extended-state index per
frame (``2k + 1`` while the k-th target token is emitted, even while a blank is), which tells two
consecutive identical tokens apart.

Times are in seconds: frame ``t`` covers ``[offset + t * frame_seconds, offset + (t + 1) * frame_seconds)``.
A span's ``score`` is the mean per-frame log-probability of its token over the frames the path
spends in it (so ``exp(score)`` is the geometric-mean posterior); a word's score is the mean of
its tokens' scores.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from speech.fileio import atomic_write_text


@dataclass
class Span:
    """A labelled interval: ``label``, ``start`` / ``end`` in seconds, ``score`` (mean log-prob)."""

    label: str
    start: float
    end: float
    score: float


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def token_spans(states, log_probs, tokens: Sequence[int], vocab: Sequence[str], frame_seconds: float,
                offset_seconds: float = 0.0) -> list[Span]:
    """One span per target token, from the first to the last frame the path spends in it.

    Args:
        states: (T,) extended-state indices of ONE utterance (from ``align_states``); frames with
            -1 (padding past the input length) are ignored.
        log_probs: (T, C) log-probs of that utterance (tensor or array).
        tokens: (L,) the target token ids; ``vocab[id]`` is the span label.
        frame_seconds: frame shift in seconds; offset_seconds: time of frame 0's start.
    Returns: L spans in order. Raises ValueError when the utterance has no alignment (all -1) or
    the states do not match the tokens.
    """
    st = _np(states).astype(np.int64).reshape(-1)
    lp = _np(log_probs).astype(np.float64)
    L = len(tokens)
    valid = np.flatnonzero(st >= 0)
    if L and valid.size == 0:
        raise ValueError("token_spans: the utterance has no alignment (every state is -1)")
    st_v = st[valid]
    if st_v.size and (st_v.max() > 2 * L):
        raise ValueError(f"token_spans: state {int(st_v.max())} out of range for {L} tokens")
    spans = []
    for k, tok in enumerate(tokens):
        frames = valid[st_v == 2 * k + 1]
        if frames.size == 0:
            raise ValueError(f"token_spans: token {k} ({vocab[tok]!r}) is never visited by the path")
        start, end = int(frames[0]), int(frames[-1]) + 1
        score = float(lp[frames, tok].mean())
        spans.append(Span(vocab[tok], offset_seconds + start * frame_seconds, offset_seconds + end * frame_seconds,
                          score))
    return spans


def word_spans(token_spans: Sequence[Span], tokens_text: Sequence[str], space_symbol: str = "|") -> list[Span]:
    """Group token spans into words.

    ``tokens_text[i]`` is token i's text. A token equal to ``space_symbol`` separates words (and
    belongs to none); a token that starts with it (SentencePiece's ``"▁word"`` when
    ``space_symbol="▁"``) begins a new word, the symbol stripped. The word label is its tokens'
    texts joined; start = first token's start, end = last token's end, score = mean token score.
    """
    if len(token_spans) != len(tokens_text):
        raise ValueError(f"word_spans: {len(token_spans)} spans but {len(tokens_text)} token texts")
    words: list[Span] = []
    group: list[tuple[Span, str]] = []

    def flush():
        if group:
            words.append(Span("".join(t for _, t in group), group[0][0].start, group[-1][0].end,
                              float(np.mean([s.score for s, _ in group]))))
            group.clear()

    for span, text in zip(token_spans, tokens_text):
        if space_symbol and text == space_symbol:
            flush()
            continue
        if space_symbol and text.startswith(space_symbol):
            flush()
            text = text[len(space_symbol):]
        group.append((span, text))
    flush()
    return words


def _json_span(s: Span) -> dict:
    d = asdict(s)
    if not math.isfinite(d["score"]):
        d["score"] = None  # strict JSON has no -inf / NaN
    return d


def to_json(words: Sequence[Span], tokens: Sequence[Span], path) -> None:
    """Write ``{"words": [{label, start, end, score}, ...], "tokens": [...]}`` atomically (UTF-8)."""
    doc = {"words": [_json_span(s) for s in words], "tokens": [_json_span(s) for s in tokens]}
    atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def _quote(text: str) -> str:
    """A Praat string literal: double quotes, with embedded quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


def _num(x: float) -> str:
    return repr(float(x))


def _tile(spans: Sequence[Span], duration: float, tier: str) -> list[tuple[float, float, str]]:
    """Intervals covering [0, duration]: the spans in order, gaps filled with empty text."""
    eps = 1e-9
    out: list[tuple[float, float, str]] = []
    t = 0.0
    for s in spans:
        start, end = max(float(s.start), 0.0), float(s.end)
        if start < t - eps or end < start - eps:
            raise ValueError(f"to_textgrid: {tier} spans must be ordered and non-overlapping; got {s} after {t}")
        if end > duration + eps:
            raise ValueError(f"to_textgrid: {tier} span {s} ends after the duration {duration}")
        start, end = max(start, t), min(max(end, start), duration)
        if start > t:
            out.append((t, start, ""))
        if end > start:  # zero-length intervals are not allowed in an IntervalTier
            out.append((start, end, s.label))
        t = max(t, end)
    if t < duration or not out:
        out.append((t, duration, ""))
    return out


def to_textgrid(words: Sequence[Span], tokens: Sequence[Span], duration: float, path) -> None:
    """Write a Praat TextGrid (long text format) with IntervalTiers "words" and "tokens".

    Each tier's intervals tile ``[0, duration]`` (gaps become empty intervals); labels are quoted
    Praat-style (``"`` doubled). Spans must be ordered, non-overlapping and end by ``duration``.
    Written through :func:`speech.fileio.atomic_write_text` (temporary file, fsync, rename), UTF-8.
    """
    duration = float(duration)
    if not duration > 0:
        raise ValueError(f"to_textgrid: duration must be positive, got {duration}")
    tiers = [("words", _tile(words, duration, "words")), ("tokens", _tile(tokens, duration, "tokens"))]
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0 ", f"xmax = {_num(duration)} ",
             "tiers? <exists> ", f"size = {len(tiers)} ", "item []: "]
    for i, (name, intervals) in enumerate(tiers, 1):
        lines += [f"    item [{i}]:", '        class = "IntervalTier" ', f"        name = {_quote(name)} ",
                  "        xmin = 0 ", f"        xmax = {_num(duration)} ", f"        intervals: size = {len(intervals)} "]
        for j, (a, b, text) in enumerate(intervals, 1):
            lines += [f"        intervals [{j}]:", f"            xmin = {_num(a)} ", f"            xmax = {_num(b)} ",
                      f"            text = {_quote(text)} "]
    atomic_write_text(path, "\n".join(lines) + "\n")


def viterbi_states(log_probs, tokens: Sequence[int], blank: int = 0) -> tuple[np.ndarray, float]:
    """Best CTC path of ``tokens`` through one utterance's (T, C) log-probs, in numpy (vectorized over
    the 2L + 1 extended states; the torch-free runtime's aligner, held to the numba kernel by a test).

    Returns (states (T,) extended-state indices as :func:`token_spans` reads them, path score); the
    score is -inf (and the states all -1) when T frames cannot hold the tokens.
    """
    lp = _np(log_probs).astype(np.float64)
    t_max = lp.shape[0]
    ext = np.full(2 * len(tokens) + 1, blank, dtype=np.int64)
    ext[1::2] = np.asarray(tokens, dtype=np.int64)
    s = len(ext)
    if t_max == 0:
        return np.full(0, -1, np.int64), float("-inf")
    # a label state may skip the blank before it unless it repeats the label two states back
    skip = np.zeros(s, dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    score = np.full(s, -np.inf)
    score[0] = lp[0, ext[0]]
    if s > 1:
        score[1] = lp[0, ext[1]]
    back = np.zeros((t_max, s), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, t_max):
        prev1 = np.concatenate(([-np.inf], score[:-1]))
        prev2 = np.where(skip, np.concatenate(([-np.inf, -np.inf], score[:-2])), -np.inf)
        cand = np.stack([score, prev1, prev2])
        choice = cand.argmax(0)
        back[t] = choice
        score = cand[choice, np.arange(s)] + lp[t, ext]
    ends = [s - 1, s - 2] if s > 1 else [0]
    end = max(ends, key=lambda i: score[i])
    best = float(score[end])
    if not np.isfinite(best):
        return np.full(t_max, -1, np.int64), float("-inf")
    states = np.empty(t_max, dtype=np.int64)
    cur = end
    for t in range(t_max - 1, -1, -1):
        states[t] = cur
        cur -= int(back[t, cur]) if t > 0 else 0
    return states, best
