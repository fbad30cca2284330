"""Text-to-speech: training targets (pitch and energy per frame and per phoneme) and helpers.

See :mod:`speech.tts.targets`.
"""

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
