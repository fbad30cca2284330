"""Building blocks shared by the ASR, TTS and vocoder models."""
from speech.models.layers.masks import lengths_to_mask, subsample_lengths
from speech.models.layers.recompute import maybe_recompute
from speech.models.layers.stacking import FrameStacking

__all__ = ["lengths_to_mask", "maybe_recompute", "subsample_lengths", "FrameStacking"]
