"""Decoding (greedy CTC) and scoring (WER / CER through rapidfuzz, see :mod:`speech.decoding.metrics`)."""
from speech.decoding.greedy import GreedyCTCDecoder, ctc_greedy_decode
from speech.decoding.metrics import (
    ErrorStats,
    align_errors,
    cer,
    edit_distance,
    error_stats,
    wer,
)

__all__ = ["GreedyCTCDecoder", "ctc_greedy_decode", "ErrorStats", "align_errors", "cer", "edit_distance",
           "error_stats", "wer"]
