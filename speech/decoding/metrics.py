"""Word and character error rates (Levenshtein alignment with substitution / deletion / insertion counts).

The edit distance and the alignment come from ``rapidfuzz`` (C++): the S / D / I split of every
pair is the one of rapidfuzz's alignment (``Levenshtein.editops``, whose grouped form
``Levenshtein.opcodes`` is what ``jiwer`` counts), so the counts here agree with jiwer's pair for
pair. The total S + D + I is the Levenshtein distance (the minimum number of edits), whatever the
split. Corpus totals: :func:`error_stats`; ``bench/metrics.py`` times it against the pure-Python
alignment this module used before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from rapidfuzz.distance import Levenshtein


def _as_codes(ref: Sequence, hyp: Sequence) -> tuple[Sequence, Sequence]:
    """Two strings as they are; other sequences as lists of ints (equal items -> equal ints).

    rapidfuzz compares list items through their hashes; numbering the items here keeps the
    comparison exact (only ``==`` decides) and makes ``"ab"`` vs ``["a", "b"]`` compare item by item.
    """
    if isinstance(ref, str) and isinstance(hyp, str):
        return ref, hyp
    index: dict = {}
    try:
        return [index.setdefault(x, len(index)) for x in ref], [index.setdefault(x, len(index)) for x in hyp]
    except TypeError:  # unhashable items (lists, ...): number them by equality
        seen: list = []

        def code(x) -> int:
            for k, y in enumerate(seen):
                if x == y:
                    return k
            seen.append(x)
            return len(seen) - 1

        return [code(x) for x in ref], [code(x) for x in hyp]


def _split_counts(a: Sequence, b: Sequence) -> tuple[int, int, int]:
    """(S, D, I) of rapidfuzz's Levenshtein alignment of two sequences rapidfuzz can compare directly.

    ``S`` is counted from the edit operations; ``D`` and ``I`` follow from ``S + D + I`` (the
    distance) and ``D - I = len(a) - len(b)`` (hits + substitutions seen from either side).
    """
    ops = Levenshtein.editops(a, b).as_list()
    if not ops:
        return 0, 0, 0
    s = [op[0] for op in ops].count("replace")
    d = (len(ops) - s + len(a) - len(b)) // 2
    return s, d, len(ops) - s - d


def align_errors(ref: Sequence, hyp: Sequence) -> tuple[int, int, int]:
    """Minimum-edit alignment of ``hyp`` against ``ref``: (substitutions, deletions, insertions).

    Args:
        ref: reference sequence (a string, or a list of words / phonemes / ids: items compared with ``==``).
        hyp: hypothesis sequence of the same kind.

    Returns:
        ``(S, D, I)`` of rapidfuzz's Levenshtein alignment, the split jiwer reports;
        ``S + D + I`` is the Levenshtein distance.
    """
    return _split_counts(*_as_codes(ref, hyp))


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance between two sequences (strings, or lists whose items compare with ``==``)."""
    return Levenshtein.distance(*_as_codes(ref, hyp))


@dataclass
class ErrorStats:
    """Accumulated error counts over a corpus."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_length: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / reference length (0 when both are empty, inf for a hypothesis against an empty reference)."""
        if self.reference_length == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.reference_length

    def add(self, ref: Sequence, hyp: Sequence) -> "ErrorStats":
        """Add one aligned pair (see :func:`align_errors`); returns ``self``."""
        s, d, i = align_errors(ref, hyp)
        self.substitutions += s
        self.deletions += d
        self.insertions += i
        self.reference_length += len(ref)
        return self

    def __iadd__(self, other: "ErrorStats") -> "ErrorStats":
        self.substitutions += other.substitutions
        self.deletions += other.deletions
        self.insertions += other.insertions
        self.reference_length += other.reference_length
        return self


def error_stats(refs: Iterable[str], hyps: Iterable[str], unit: str = "word") -> ErrorStats:
    """Error counts over paired reference / hypothesis strings; ``unit`` is ``word`` or ``char``.

    Words are the whitespace-separated tokens; characters are those of the text with runs of
    whitespace collapsed to one space (spaces count).
    """
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    refs, hyps = list(refs), list(hyps)
    if len(refs) != len(hyps):
        raise ValueError(f"got {len(refs)} references but {len(hyps)} hypotheses")
    subs = dels = ins = length = 0
    for r, h in zip(refs, hyps):
        # Lists of words go to rapidfuzz as they are: it compares them through their 64-bit string
        # hashes, 3x faster than numbering them here; two different words in one pair would look
        # alike only on a hash collision (probability ~2**-64 per pair of words).
        a, b = (r.split(), h.split()) if unit == "word" else (" ".join(r.split()), " ".join(h.split()))
        s, d, i = _split_counts(a, b)
        subs += s
        dels += d
        ins += i
        length += len(a)
    return ErrorStats(subs, dels, ins, length)


def wer(refs: Iterable[str] | str, hyps: Iterable[str] | str) -> float:
    """Word error rate of hypotheses against references (strings or lists of strings)."""
    if isinstance(refs, str):
        refs, hyps = [refs], [hyps]
    return error_stats(refs, hyps, "word").rate


def cer(refs: Iterable[str] | str, hyps: Iterable[str] | str) -> float:
    """Character error rate (spaces count as characters; runs of whitespace collapsed)."""
    if isinstance(refs, str):
        refs, hyps = [refs], [hyps]
    return error_stats(refs, hyps, "char").rate
