"""Range checks for config dataclasses and constructors: one-line errors naming the config key.

Plain Python (no OmegaConf, no torch), so the torch-free runtime's settings use the same checks as
training configs; :mod:`speech.config` re-exports these names.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["FRACTION", "GE0", "GE1", "GT0", "check_ranges", "rule", "show_value"]


def rule(pred: Callable[[Any], bool], expected: str) -> tuple[Callable[[Any], bool], str]:
    """A range rule for :func:`check_ranges`: a predicate and what it expects, in words."""
    return pred, expected


GE0 = rule(lambda v: v >= 0, ">= 0")
GE1 = rule(lambda v: v >= 1, ">= 1")
GT0 = rule(lambda v: v > 0, "> 0")
FRACTION = rule(lambda v: 0 <= v < 1, "a fraction in [0, 1)")


def show_value(v: Any) -> str:
    """A value as a message shows it: its repr, cut to 60 characters."""
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def check_ranges(prefix: str, obj: Any, **rules: tuple[Callable[[Any], bool], str]) -> None:
    """Range checks for a config dataclass's ``__post_init__`` (or a module's constructor): for each
    ``field=rule`` a ``ValueError`` "<prefix>.<field>: <value> is out of range; expected <what>",
    naming the config key. ``None`` values are skipped (optional fields)."""
    for name, (ok, expected) in rules.items():
        v = getattr(obj, name) if not isinstance(obj, dict) else obj[name]
        if v is None:
            continue
        try:
            good = not isinstance(v, bool) and ok(v)
        except TypeError:
            good = False
        if not good:
            raise ValueError(f"{prefix}.{name}: {show_value(v)} is out of range; expected {expected}")
