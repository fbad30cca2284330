"""Training loss of :class:`speech.models.tts.FastSpeech2`: masked mel reconstruction + variance terms.

    total = mel_weight * D(mel, target) + postnet_weight * D(mel_postnet, target)
          + duration_weight * MSE(log_duration_pred, log(1 + durations))
          + pitch_weight * MSE(pitch_pred, pitch) + energy_weight * MSE(energy_pred, energy)

D is L1 or MSE (``mel_loss``), averaged over valid frames and mel bins; the variance terms are
averaged over valid phonemes. Padded frames / phonemes never contribute.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from speech.models.layers import lengths_to_mask
from speech.models.tts.fastspeech2 import FastSpeech2Output

__all__ = ["FastSpeech2Loss", "FastSpeech2LossConfig"]


@dataclass
class FastSpeech2LossConfig:
    """Weights and kind of the FastSpeech2 loss terms."""

    mel_loss: str = "l1"
    """Distance for the mel terms: "l1" (FastSpeech2's choice; robust to outliers) | "mse"."""
    mel_weight: float = 1.0
    """Weight of the decoder-output mel term."""
    postnet_weight: float = 1.0
    """Weight of the postnet mel term (ignored when the model has no postnet)."""
    duration_weight: float = 1.0
    """Weight of the log(1 + frames) duration MSE."""
    pitch_weight: float = 1.0
    """Weight of the normalized-pitch MSE."""
    energy_weight: float = 1.0
    """Weight of the normalized-energy MSE."""

    MEL_LOSSES = ("l1", "mse")

    def __post_init__(self) -> None:
        if self.mel_loss not in self.MEL_LOSSES:
            raise ValueError(f"loss.mel_loss must be one of {', '.join(self.MEL_LOSSES)}, got {self.mel_loss!r}")
        for name in ("mel_weight", "postnet_weight", "duration_weight", "pitch_weight", "energy_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name} must be >= 0, got {getattr(self, name)}")


def _masked_mean(err: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``err`` over positions where ``mask`` (broadcastable) is True; 0 when none are."""
    mask = mask.to(err.dtype).expand_as(err)
    return (err * mask).sum() / mask.sum().clamp_min(1.0)


class FastSpeech2Loss(nn.Module):
    """``loss(out, mel_target, durations, pitch, energy, phoneme_lens, mel_target_lens=None) -> (total, parts)``.

    ``parts`` maps "mel", "postnet" (only with a postnet), "duration", "pitch", "energy" to the
    unweighted, detached terms.
    """

    def __init__(self, cfg: FastSpeech2LossConfig | None = None, **kwargs):
        super().__init__()
        if cfg is None:
            try:
                cfg = FastSpeech2LossConfig(**kwargs)
            except TypeError as e:
                fields = ", ".join(FastSpeech2LossConfig.__dataclass_fields__)
                raise TypeError(f"loss: {e}; valid fields: {fields}") from None
        elif kwargs:
            raise TypeError("FastSpeech2Loss: pass either cfg or keyword fields, not both")
        self.cfg = cfg

    def _mel_distance(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        diff = pred.float() - target.float()
        err = diff.abs() if self.cfg.mel_loss == "l1" else diff.square()
        return _masked_mean(err, mask)

    def forward(
        self,
        out: FastSpeech2Output,
        mel_target: torch.Tensor,
        durations: torch.Tensor,
        pitch: torch.Tensor,
        energy: torch.Tensor,
        phoneme_lens: torch.Tensor,
        mel_target_lens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Args:
            out: the model's output (teacher-forced with ``durations``).
            mel_target: (B, T, n_mels) log-mel targets.
            durations, pitch, energy: (B, L) the targets given to the model.
            phoneme_lens: (B,) valid phonemes per row.
            mel_target_lens: (B,) valid target frames; default: ``out.mel_lens``. Frames beyond
                ``min(out.mel_lens, mel_target_lens)`` are ignored.
        """
        frames = min(out.mel.shape[1], mel_target.shape[1])
        lens = out.mel_lens.to(mel_target.device)
        if mel_target_lens is not None:
            lens = torch.minimum(lens, mel_target_lens.to(lens.device))
        fmask = lengths_to_mask(lens, frames).unsqueeze(-1)
        target = mel_target[:, :frames]
        parts: dict[str, torch.Tensor] = {"mel": self._mel_distance(out.mel[:, :frames], target, fmask)}
        total = self.cfg.mel_weight * parts["mel"]
        if out.mel_postnet is not None:
            parts["postnet"] = self._mel_distance(out.mel_postnet[:, :frames], target, fmask)
            total = total + self.cfg.postnet_weight * parts["postnet"]

        pmask = lengths_to_mask(phoneme_lens.to(durations.device), durations.shape[1])
        log_dur = torch.log1p(durations.float().clamp_min(0))
        parts["duration"] = _masked_mean((out.log_duration_pred.float() - log_dur).square(), pmask)
        parts["pitch"] = _masked_mean((out.pitch_pred.float() - pitch.float()).square(), pmask)
        parts["energy"] = _masked_mean((out.energy_pred.float() - energy.float()).square(), pmask)
        total = (total + self.cfg.duration_weight * parts["duration"] + self.cfg.pitch_weight * parts["pitch"]
                 + self.cfg.energy_weight * parts["energy"])
        return total, {k: v.detach() for k, v in parts.items()}
