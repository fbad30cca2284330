"""Text front end: normalization and tokenizers.

- :func:`normalize_asr_text` — written text -> spoken-form lower-case words (numbers, symbols,
  accents, punctuation); :func:`number_to_words` / :func:`ordinal_to_words` for reuse (TTS).
- :class:`CharTokenizer` — characters <-> ids with the CTC blank at id 0.
"""

from speech.text.normalize import normalize_asr_text, number_to_words, ordinal_to_words
from speech.text.tokenizer import CharTokenizer, TokenizerError

__all__ = ["CharTokenizer", "TokenizerError", "normalize_asr_text", "number_to_words", "ordinal_to_words"]
