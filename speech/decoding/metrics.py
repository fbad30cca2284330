"""Word and character error rates (Levenshtein alignment with substitution / deletion / insertion counts)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


def align_errors(ref: Sequence, hyp: Sequence) -> tuple[int, int, int]:
    """Minimum-edit alignment of ``hyp`` against ``ref``: (substitutions, deletions, insertions).

    Among alignments with the fewest edits, ties prefer substitutions, so the counts match
    the usual sclite / jiwer convention.
    """
    n, m = len(ref), len(hyp)
    # Each cell holds (edits, subs, dels, ins); one row at a time keeps memory O(m).
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        r = ref[i - 1]
        for j in range(1, m + 1):
            d = prev[j - 1]
            if r == hyp[j - 1]:
                best = d
            else:
                best = (d[0] + 1, d[1] + 1, d[2], d[3])
            up = prev[j]
            if up[0] + 1 < best[0]:
                best = (up[0] + 1, up[1], up[2] + 1, up[3])
            left = cur[j - 1]
            if left[0] + 1 < best[0]:
                best = (left[0] + 1, left[1], left[2], left[3] + 1)
            cur.append(best)
        prev = cur
    _, s, d, ins = prev[m]
    return s, d, ins


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance between two sequences."""
    return sum(align_errors(ref, hyp))


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
    """Error counts over paired reference / hypothesis strings; ``unit`` is ``word`` or ``char``."""
    refs, hyps = list(refs), list(hyps)
    if len(refs) != len(hyps):
        raise ValueError(f"got {len(refs)} references but {len(hyps)} hypotheses")
    stats = ErrorStats()
    for r, h in zip(refs, hyps):
        if unit == "word":
            stats.add(r.split(), h.split())
        elif unit == "char":
            stats.add(list(" ".join(r.split())), list(" ".join(h.split())))
        else:
            raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    return stats


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
