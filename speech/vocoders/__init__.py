"""Vocoders: log-mel features (:func:`speech.features.log_mel`) -> waveforms.

:class:`Vocoder` is the interface (see :mod:`speech.vocoders.base` for the length convention);
:class:`GriffinLimVocoder` is the training-free baseline; :func:`load_vocoder` builds one by name.
"""

from speech.vocoders.base import Vocoder, load_vocoder
from speech.vocoders.griffin_lim import GriffinLimVocoder, mel_to_linear_power

__all__ = ["GriffinLimVocoder", "Vocoder", "load_vocoder", "mel_to_linear_power"]
