"""Neural vocoder networks: HiFi-GAN generator, discriminators (``hifigan``) and losses (``losses``).

The :class:`speech.vocoders.Vocoder` interface (log-mel in, waveform out) lives in
:mod:`speech.vocoders`; these are the trainable modules behind it.
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
from speech.models.vocoders.losses import (
    FM_WEIGHT,
    MEL_WEIGHT,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
)

__all__ = [
    "FM_WEIGHT", "HIFIGAN_PRESETS", "HiFiGANConfig", "HiFiGANGenerator", "MEL_WEIGHT", "MultiPeriodDiscriminator",
    "MultiScaleDiscriminator", "discriminator_loss", "factorize_hop", "feature_matching_loss",
    "generator_adversarial_loss", "hifigan_generator", "hifigan_preset", "mel_l1_loss",
]
