"""Neural vocoder networks: HiFi-GAN generator, discriminators (``hifigan``) and losses (``losses``).

The :class:`speech.models.vocoders.base.Vocoder` interface (log-mel in, waveform out) lives in
:mod:`speech.models.vocoders`; these are the trainable modules behind it.
"""
from speech.models.vocoders.hifigan import (
    HIFIGAN_PRESETS,
    HiFiGANConfig,
    HiFiGANGenerator,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    factorize_hop,
    hifigan_generator,
    hifigan_preset,
)

__all__ = [
    "HIFIGAN_PRESETS", "HiFiGANConfig", "HiFiGANGenerator", "MultiPeriodDiscriminator",
    "MultiScaleDiscriminator", "factorize_hop", 
    "hifigan_generator", "hifigan_preset",
]
