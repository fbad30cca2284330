"""Text front end: normalization, number reading, G2P and tokenizers (imports nothing above the text layer).

- :func:`normalize_asr_text` (:mod:`~speech.text.normalize`) — written text -> spoken-form lower-case
  words for recognition; :func:`~speech.text.tts_normalize.normalize_for_tts` — the words a person
  would read aloud, with punctuation kept for pauses.
- :mod:`~speech.text.numbers` — the number, year, money, time and date readers both normalizers
  share (:func:`number_to_words`, :func:`ordinal_to_words`, :func:`~speech.text.numbers.year_to_words`);
  :mod:`~speech.text.fold` — their Unicode folding.
- :mod:`~speech.text.g2p` (+ :mod:`~speech.text.g2p_neural`) — words -> ARPAbet phonemes;
  :func:`~speech.text.frontend.text_to_ids` — raw text -> phoneme ids in one call.
- :class:`CharTokenizer` (characters, CTC blank at id 0) and
  :class:`~speech.text.phonemes.PhonemeTokenizer` share :class:`~speech.text.tokenizer.Tokenizer`.
"""

from speech.text.normalize import normalize_asr_text
from speech.text.numbers import number_to_words, ordinal_to_words
from speech.text.tokenizer import CharTokenizer, TokenizerError

__all__ = ["CharTokenizer", "TokenizerError", "normalize_asr_text", "number_to_words", "ordinal_to_words"]
