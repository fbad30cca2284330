"""HiFi-GAN losses (Kong, Kim & Bae 2020): least-squares GAN, feature matching, mel-spectrogram L1.

The generator's total loss, as in the paper (``L_G = L_adv + 2 L_fm + 45 L_mel``)::

    scores_r, fmaps_r = D(real); scores_f, fmaps_f = D(fake)        # for D in (MPD, MSD)
    loss_g = (generator_adversarial_loss(scores_f)                   # each D
              + feature_matching_loss(fmaps_r, fmaps_f)              # x FM_WEIGHT already applied
              + MEL_WEIGHT * mel_l1_loss(fake, real, fbank))         # x MEL_WEIGHT by the caller

and the discriminators' ``discriminator_loss(D(real), D(fake.detach()))`` summed over MPD and MSD.

Note the asymmetry, kept from the published code: :func:`feature_matching_loss` already multiplies
by ``FM_WEIGHT`` (2), while :func:`mel_l1_loss` is unweighted and the caller multiplies by
``MEL_WEIGHT`` (45).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
from torch import Tensor

from speech.features.functional import FbankConfig, log_mel

__all__ = ["FM_WEIGHT", "MEL_WEIGHT", "discriminator_loss", "feature_matching_loss", "generator_adversarial_loss",
           "mel_l1_loss"]

MEL_WEIGHT = 45.0
"""Weight of :func:`mel_l1_loss` in the generator loss (lambda_mel of the paper); applied by the caller."""
FM_WEIGHT = 2.0
"""Weight of the feature-matching loss (lambda_fm of the paper); :func:`feature_matching_loss` applies it itself."""


def discriminator_loss(real_scores: Sequence[Tensor], fake_scores: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """Least-squares discriminator loss: ``sum_k mean((1 - D_k(real))^2) + mean(D_k(fake)^2)``.

    Args:
        real_scores / fake_scores: one score tensor per sub-discriminator (what the discriminators
            return first); pass ``fake.detach()``'s scores when training the discriminator.

    Returns:
        ``(total, per_disc)``: the scalar sum and the list of each sub-discriminator's term.
    """
    _same_count(real_scores, fake_scores, "discriminator_loss", "real_scores", "fake_scores")
    per_disc = [torch.mean((1 - dr.float()) ** 2) + torch.mean(dg.float() ** 2)
                for dr, dg in zip(real_scores, fake_scores)]
    return torch.stack(per_disc).sum(), per_disc


def generator_adversarial_loss(fake_scores: Sequence[Tensor]) -> Tensor:
    """Least-squares generator loss: ``sum_k mean((1 - D_k(fake))^2)`` (scalar)."""
    if len(fake_scores) == 0:
        raise ValueError("generator_adversarial_loss: fake_scores is empty; expected one tensor per sub-discriminator")
    return torch.stack([torch.mean((1 - dg.float()) ** 2) for dg in fake_scores]).sum()


def feature_matching_loss(real_fmaps: Sequence[Sequence[Tensor]], fake_fmaps: Sequence[Sequence[Tensor]],
                          weight: float = FM_WEIGHT) -> Tensor:
    """``weight * sum_k sum_l mean |real_{k,l} - fake_{k,l}|`` over every sub-discriminator ``k`` and
    layer ``l`` (the real activations detached: no gradient reaches the discriminator).

    ``weight`` defaults to ``FM_WEIGHT`` = 2, the paper's lambda_fm, which the published code applies
    inside this loss: do not multiply the result by 2 again.
    """
    _same_count(real_fmaps, fake_fmaps, "feature_matching_loss", "real_fmaps", "fake_fmaps")
    terms = []
    for k, (rs, gs) in enumerate(zip(real_fmaps, fake_fmaps)):
        _same_count(rs, gs, "feature_matching_loss", f"real_fmaps[{k}]", f"fake_fmaps[{k}]")
        for r, g in zip(rs, gs):
            terms.append(torch.mean(torch.abs(r.detach().float() - g.float())))
    return weight * torch.stack(terms).sum()


def mel_l1_loss(wav_fake: Tensor, wav_real: Tensor, fbank: FbankConfig) -> Tensor:
    """``mean |log_mel(fake) - log_mel(real)|`` with the toolkit's :func:`speech.features.log_mel`
    (natural log, "snip edges" frames; dither off). Unweighted: the caller multiplies by ``MEL_WEIGHT``.

    Args:
        wav_fake / wav_real: ``(B, 1, N)`` or ``(B, N)`` waveforms of the same shape (``N >= 1``),
            at ``fbank.sample_rate``; gradients flow through ``wav_fake``.
        fbank: the feature config (the generator's input features, e.g. ``tts_fbank()``).
    """
    if wav_fake.shape != wav_real.shape or wav_fake.shape[-1] < 1:
        raise ValueError(f"mel_l1_loss: wav_fake {tuple(wav_fake.shape)} and wav_real {tuple(wav_real.shape)}; "
                         "expected two waveforms of the same shape (B, 1, N) or (B, N), N >= 1")
    if fbank.dither:
        fbank = dataclasses.replace(fbank, dither=0.0)
    fake = log_mel(wav_fake.float(), fbank)
    with torch.no_grad():
        real = log_mel(wav_real.float(), fbank)
    return torch.mean(torch.abs(fake - real))


def _same_count(a: Sequence, b: Sequence, who: str, na: str, nb: str) -> None:
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"{who}: {na} has {len(a)} entries and {nb} {len(b)}; expected the same non-zero number")
