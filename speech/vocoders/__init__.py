"""Vocoders: log-mel features (:func:`speech.features.log_mel`) -> waveforms.

:class:`Vocoder` is the interface (see :mod:`speech.vocoders.base` for the length convention);
:class:`GriffinLimVocoder` is the training-free baseline; :func:`load_vocoder` builds one by name.
"""

from speech.vocoders.base import VOCODER_NAMES, Vocoder, load_vocoder

__all__ = ["VOCODER_NAMES", "GriffinLimVocoder", "Vocoder", "load_vocoder", "mel_to_linear_power"]


def __getattr__(name: str):
    # Imported lazily so that `python -m speech.vocoders.griffin_lim` (its benchmark) runs cleanly.
    if name in ("GriffinLimVocoder", "mel_to_linear_power"):
        from speech.vocoders import griffin_lim

        return getattr(griffin_lim, name)
    raise AttributeError(f"module 'speech.vocoders' has no attribute {name!r}")
