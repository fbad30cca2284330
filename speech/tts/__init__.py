"""Text-to-speech: training targets (phoneme durations from the Viterbi aligner, pitch and energy
per frame and per phoneme) and helpers.

See :mod:`speech.tts.targets` and :mod:`speech.tts.durations`.
"""

from speech.tts.durations import align_durations, path_to_durations, upsample_durations
from speech.tts.targets import (
    TargetCache,
    TargetStats,
    TargetStatsAccumulator,
    compute_targets,
    frame_energy,
    frame_pitch,
    median_f0,
    phoneme_average,
    semitone_shift_ratio,
)

__all__ = [
    "align_durations",
    "path_to_durations",
    "upsample_durations",
    "TargetCache",
    "TargetStats",
    "TargetStatsAccumulator",
    "compute_targets",
    "frame_energy",
    "frame_pitch",
    "median_f0",
    "phoneme_average",
    "semitone_shift_ratio",
]
