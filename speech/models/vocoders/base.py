"""The vocoder interface: log-mel features in, waveforms out.

A vocoder turns the toolkit's log-mel features (:func:`speech.features.log_mel`: natural log of
mel power, shape ``(T, n_mels)``) back into audio. It carries the one :class:`FbankConfig` it was
built for; a TTS model that predicts mels for a different config is refused by
:meth:`Vocoder.check_compatible` instead of producing garbled audio.

Length convention (shared by every vocoder): ``T`` frames give exactly ``T * hop_length`` samples,
and output sample ``i`` lines up with sample ``i`` of the waveform the features were computed from
(frame ``t`` of :func:`log_mel` starts at sample ``t * hop_length``). The analysed waveform had
between ``(T - 1) * hop + win`` and ``T * hop + win - 1`` samples, so the output is at most
``win - 1`` samples shorter than it (never longer, for ``win >= hop``).
"""

from __future__ import annotations

import abc
import math

import torch
from torch import Tensor

from speech.features.functional import FbankConfig

__all__ = ["VOCODER_NAMES", "Vocoder"]

#: Names accepted by :func:`speech.packages.vocoder.load_vocoder`.
VOCODER_NAMES: tuple[str, ...] = ("griffin-lim",)


# (FbankConfig field, what it resolves to): the values that decide what log_mel computes.
_RESOLVED_FIELDS = (
    ("sample_rate", lambda c: c.sample_rate),
    ("n_mels", lambda c: c.n_mels),
    ("win_ms", lambda c: c.win_length),
    ("hop_ms", lambda c: c.hop_length),
    ("n_fft", lambda c: c.fft_size),
    ("f_min", lambda c: float(c.f_min)),
    ("f_max", lambda c: c.mel_f_max),
    ("log_floor", lambda c: c.log_floor),
    ("preemphasis", lambda c: c.preemphasis),
)


class Vocoder(abc.ABC):
    """Base class of vocoders: ``vocoder(log_mel, lengths) -> waveform(s)``.

    Subclasses implement :meth:`_synthesize`; :meth:`__call__` validates the input, runs it under
    ``torch.inference_mode`` and handles single vs batched shapes.
    """

    def __init__(self, fbank: FbankConfig):
        if not isinstance(fbank, FbankConfig):
            raise TypeError(f"{type(self).__name__}: fbank must be a FbankConfig, got {type(fbank).__name__}")
        self.fbank = fbank

    @property
    def sample_rate(self) -> int:
        """Sample rate (Hz) of the waveforms produced (= ``fbank.sample_rate``)."""
        return self.fbank.sample_rate

    @property
    def hop_length(self) -> int:
        """Samples per mel frame (= ``fbank.hop_length``)."""
        return self.fbank.hop_length

    def num_samples(self, num_frames: int | Tensor) -> int | Tensor:
        """Output length for ``num_frames`` frames: ``num_frames * hop_length``."""
        return num_frames * self.hop_length

    def check_compatible(self, fbank: FbankConfig) -> None:
        """Raise a one-line ``ValueError`` naming every field where ``fbank`` gives different
        features from this vocoder's config.

        Fields are compared by what they resolve to (``win_ms``/``hop_ms`` in samples, ``n_fft``
        as ``fft_size``, ``f_max=None`` as Nyquist), so two spellings of the same analysis pass.
        ``dither`` is ignored: it does not change what the features mean.
        """
        if not isinstance(fbank, FbankConfig):
            raise TypeError(f"check_compatible: expected a FbankConfig, got {type(fbank).__name__}")
        diffs = []
        for field, resolved in _RESOLVED_FIELDS:
            if resolved(fbank) != resolved(self.fbank):
                diffs.append(f"{field}={getattr(fbank, field)!r} (vocoder: {getattr(self.fbank, field)!r})")
        if diffs:
            raise ValueError(f"mel config differs from the {type(self).__name__}'s: " + ", ".join(diffs)
                             + "; expected the vocoder's FbankConfig")

    def __call__(self, log_mel: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Synthesize waveform(s) from log-mel features.

        Args:
            log_mel: ``(T, n_mels)`` or right-padded ``(B, T, n_mels)`` natural-log mel power, as
                :func:`speech.features.log_mel` computes it with ``self.fbank``. Any float dtype/device.
            lengths: ``(B,)`` valid frames per item (batched input only); None means all ``T``.

        Returns:
            float32 waveform(s) in ``[-1, 1]`` on the input's device: ``(T * hop,)`` for a single
            input, ``(B, T * hop)`` for a batch, where item ``b`` holds ``lengths[b] * hop`` samples
            followed by zeros.
        """
        if not isinstance(log_mel, Tensor) or not log_mel.is_floating_point():
            raise TypeError(f"{type(self).__name__}: expected a float tensor (T, n_mels) or (B, T, n_mels), "
                            f"got {getattr(log_mel, 'dtype', type(log_mel).__name__)}")
        if log_mel.dim() not in (2, 3) or log_mel.shape[-1] != self.fbank.n_mels:
            raise ValueError(f"{type(self).__name__}: log_mel has shape {tuple(log_mel.shape)}; expected "
                             f"(T, {self.fbank.n_mels}) or (B, T, {self.fbank.n_mels})")
        single = log_mel.dim() == 2
        x = log_mel[None] if single else log_mel
        b, t, _ = x.shape
        if lengths is None:
            lens = torch.full((b,), t, dtype=torch.long, device=x.device)
        else:
            if single:
                raise ValueError(f"{type(self).__name__}: lengths given for a single (T, n_mels) input; "
                                 "expected lengths only with batched (B, T, n_mels) input")
            lens = torch.as_tensor(lengths, device=x.device).long().reshape(-1)
            if lens.numel() != b or bool((lens < 0).any()) or bool((lens > t).any()):
                raise ValueError(f"{type(self).__name__}: lengths {lens.tolist()} do not fit a batch of "
                                 f"{b} x {t} frames; expected {b} values in [0, {t}]")
        frame_idx = torch.arange(t, device=x.device)
        valid = frame_idx[None, :] < lens[:, None]  # (B, T)
        if not bool(torch.isfinite(x[valid]).all()):
            raise ValueError(f"{type(self).__name__}: log_mel contains NaN or infinite values in valid "
                             "frames; expected finite log-mel features")
        with torch.inference_mode():
            if t == 0 or b == 0:
                wav = x.new_zeros(b, 0, dtype=torch.float32)
            else:
                x = x.float().masked_fill(~valid[..., None], math.log(self.fbank.log_floor))
                wav = self._synthesize(x, lens)
        return wav[0] if single else wav

    @abc.abstractmethod
    def _synthesize(self, log_mel: Tensor, lengths: Tensor) -> Tensor:
        """``(B, T, n_mels)`` float32 (finite; padding frames filled with ``log(log_floor)``) and
        ``(B,)`` int64 lengths ``>= 0`` -> ``(B, T * hop)`` float32 in ``[-1, 1]``, zero past
        ``lengths[b] * hop``."""

    def __repr__(self) -> str:
        c = self.fbank
        return (f"{type(self).__name__}(sample_rate={c.sample_rate}, n_mels={c.n_mels}, "
                f"hop={c.hop_length}, win={c.win_length}, n_fft={c.fft_size})")


