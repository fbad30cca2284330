"""Acoustic features: log-mel filterbanks, global CMVN and SpecAugment.

Pure functions live in :mod:`speech.features.functional`; the Modules wrap them with
``forward(x, x_lens)`` interfaces over padded batches ``(B, T, F)``.
"""

from speech.features.cmvn import STD_FLOOR, GlobalCMVN, compute_cmvn_stats
from speech.features.functional import (
    FbankConfig,
    LogMelFbank,
    fbank_preset,
    log_mel,
    mel_filterbank,
    num_frames,
    tts_fbank,
)
from speech.features.specaugment import (
    SpecAugment,
    SpecAugmentConfig,
    spec_augment_masks,
)

__all__ = [
    "STD_FLOOR",
    "FbankConfig",
    "GlobalCMVN",
    "LogMelFbank",
    "SpecAugment",
    "SpecAugmentConfig",
    "compute_cmvn_stats",
    "fbank_preset",
    "log_mel",
    "mel_filterbank",
    "num_frames",
    "spec_augment_masks",
    "tts_fbank",
]
