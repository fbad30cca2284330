"""Text settings shared by recipes (config group ``text/``)."""
from __future__ import annotations

from dataclasses import dataclass

TOKENIZERS = ("char",)


@dataclass
class TextConfig:
    """How transcripts become model targets."""

    tokenizer: str = "char"
    """Token unit: ``char`` (letters, apostrophe and a word separator; the vocabulary is built from the training text)."""
    normalize: bool = True
    """Importers pass transcripts through ``normalize_asr_text`` (lower case, numbers and symbols as words)."""

    def __post_init__(self) -> None:
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"text.tokenizer: unknown tokenizer {self.tokenizer!r}; expected one of {TOKENIZERS}")
