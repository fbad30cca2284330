"""FastSpeech2-style non-autoregressive acoustic model: phonemes -> log-mel frames.

Data flow (shapes)::

    phoneme ids (B, L) -> embedding (padding id 0) -> encoder (B, L, H)
    -> + speaker embedding (n_speakers > 1)
    -> variance adaptor: duration / pitch / energy predictors (B, L) each;
       pitch and energy (targets in training, predictions at inference) are embedded and added
    -> length regulator: each phoneme vector repeated ``duration`` times -> (B, T, H)
    -> + position-within-phoneme features (optional) -> decoder (B, T, H)
    -> linear -> mel (B, T, n_mels) -> optional postnet (residual) -> mel_postnet

Encoder / decoder kinds (``encoder`` / ``decoder`` fields):

* ``"conv"`` (default): a stack of residual 1-D convolution blocks (conv -> ReLU -> LayerNorm ->
  dropout, + input). This replaces FastSpeech2's self-attention (FFT) blocks with the convolutions
  alone: no attention means no quadratic cost in the sequence length and no positional encoding
  to learn, which keeps training on a small CPU fast; the receptive field (``layers * (kernel-1) + 1``
  positions) is enough context for phonemes and, with the position-within-phoneme features, for
  frames. Padding is zeroed before every convolution, so outputs do not depend on batch padding.
* ``"lstm"``: bidirectional LSTM layers (``hidden_size // 2`` cells per direction) on packed
  sequences; slower on long frame sequences but with unbounded context.

Variance targets (what a data pipeline must provide for teacher forcing):

* ``durations`` (B, L): integer frames per phoneme (sum = number of mel frames); the duration
  predictor outputs ``log(1 + frames)``.
* ``pitch`` (B, L): per-phoneme log-F0 normalized with the training set's mean and standard
  deviation, ``(log f0 - mean) / std`` (unvoiced phonemes: interpolated or 0, i.e. the mean).
  :func:`semitones_to_normalized` converts a pitch shift in semitones to this scale.
* ``energy`` (B, L): per-phoneme frame energy (e.g. mean log-mel magnitude) normalized the same way.

Pitch / energy embedding (``variance_embedding``): ``"bins"`` quantizes the normalized value
into ``n_bins`` buckets with fixed boundaries evenly spaced over ``[bins_min, bins_max]`` (default
-3..3 standard deviations; values outside fall into the first / last bucket) and looks up a learned
vector; ``"conv"`` applies a 1-D convolution (kernel 3) to the value sequence instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speech.models.layers import lengths_to_mask, maybe_recompute

__all__ = [
    "ConvStack", "FastSpeech2", "FastSpeech2Config", "FastSpeech2Output", "LSTMStack", "VariancePredictor",
    "fastspeech2", "length_regulate", "semitones_to_normalized",
]


@dataclass
class FastSpeech2Config:
    """Hyper-parameters of :class:`FastSpeech2` (the Hydra config ``model/tts/fastspeech2``)."""

    hidden_size: int = 192
    """Width of the phoneme embedding, encoder, variance embeddings and decoder."""
    encoder: str = "conv"
    """Encoder kind: "conv" (residual 1-D conv blocks, fast on CPU) | "lstm" (BiLSTM, packed sequences)."""
    encoder_layers: int = 3
    """Number of encoder blocks / BiLSTM layers."""
    decoder: str = "conv"
    """Decoder kind, as ``encoder``."""
    decoder_layers: int = 3
    """Number of decoder blocks / BiLSTM layers."""
    kernel_size: int = 5
    """Kernel of the conv encoder / decoder blocks (odd)."""
    dropout: float = 0.1
    """Dropout in the encoder and decoder."""
    variance_hidden: int = 192
    """Channels of the duration / pitch / energy predictors' two conv layers."""
    variance_kernel: int = 3
    """Kernel of the predictors' conv layers (odd)."""
    variance_dropout: float = 0.5
    """Dropout in the predictors (FastSpeech2 uses a high value: the targets are noisy)."""
    variance_embedding: str = "bins"
    """How pitch / energy enter the hidden states: "bins" (bucketize + embedding) | "conv" (1-D conv of the value)."""
    n_bins: int = 256
    """Number of quantization buckets for ``variance_embedding="bins"``."""
    bins_min: float = -3.0
    """Lowest bucket boundary, in normalized units (standard deviations from the dataset mean)."""
    bins_max: float = 3.0
    """Highest bucket boundary; boundaries are evenly spaced in [bins_min, bins_max]."""
    n_speakers: int = 1
    """Number of speakers; > 1 adds a learned speaker embedding to the encoder output."""
    frame_position: bool = True
    """Add a learned projection of each frame's relative position inside its phoneme and of the
    phoneme's log-duration to the regulated frames, so frames of a long phoneme are not identical
    decoder inputs (the conv decoder has no other way to tell them apart)."""
    postnet: bool = False
    """Add a 5-layer conv postnet (tanh) whose output is added to the mel (``mel_postnet``)."""
    postnet_channels: int = 256
    """Channels of the postnet's hidden conv layers."""
    postnet_layers: int = 5
    """Conv layers in the postnet (>= 2)."""
    postnet_kernel: int = 5
    """Kernel of the postnet's conv layers (odd)."""
    max_frames: int = 4000
    """Longest allowed output (frames per utterance, 40 s at a 10 ms hop); longer raises ValueError."""
    recompute: bool = False
    """Activation checkpointing of each encoder / decoder layer (BiLSTM layer or conv block) while training:
    only its input is kept and the backward pass runs it again (less memory, more step time; same
    gradients, same weight names; inference unchanged). See speech.models.layers.recompute."""

    KINDS = ("conv", "lstm")
    EMBEDDINGS = ("bins", "conv")

    def __post_init__(self) -> None:
        if self.hidden_size < 2 or self.hidden_size % 2:
            raise ValueError(f"model.tts.hidden_size must be an even number >= 2, got {self.hidden_size}")
        for name in ("encoder", "decoder"):
            if getattr(self, name) not in self.KINDS:
                kinds = ", ".join(self.KINDS)
                raise ValueError(f"model.tts.{name} must be one of {kinds}, got {getattr(self, name)!r}")
        for name in ("encoder_layers", "decoder_layers", "variance_hidden", "n_speakers", "postnet_channels",
                     "max_frames"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"model.tts.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("kernel_size", "variance_kernel", "postnet_kernel"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"model.tts.{name} must be an odd number >= 1, got {k}")
        for name in ("dropout", "variance_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"model.tts.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.variance_embedding not in self.EMBEDDINGS:
            raise ValueError(f"model.tts.variance_embedding must be one of {', '.join(self.EMBEDDINGS)}, "
                             f"got {self.variance_embedding!r}")
        if self.n_bins < 2:
            raise ValueError(f"model.tts.n_bins must be >= 2, got {self.n_bins}")
        if not self.bins_min < self.bins_max:
            raise ValueError(f"model.tts.bins_min must be < bins_max, got {self.bins_min}, {self.bins_max}")
        if self.postnet_layers < 2:
            raise ValueError(f"model.tts.postnet_layers must be >= 2, got {self.postnet_layers}")


class FastSpeech2Output(NamedTuple):
    """What :meth:`FastSpeech2.forward` returns. Padded positions are zero."""

    mel: torch.Tensor
    """(B, T, n_mels) decoder output, T = max(mel_lens)."""
    mel_postnet: torch.Tensor | None
    """(B, T, n_mels) mel + postnet residual, or None without a postnet."""
    mel_lens: torch.Tensor
    """(B,) frames per utterance = durations_used.sum(1)."""
    log_duration_pred: torch.Tensor
    """(B, L) predicted log(1 + frames) per phoneme."""
    pitch_pred: torch.Tensor
    """(B, L) predicted normalized pitch per phoneme (before pitch_shift)."""
    energy_pred: torch.Tensor
    """(B, L) predicted normalized energy per phoneme (before energy_scale)."""
    durations_used: torch.Tensor
    """(B, L) integer durations the length regulator used (targets or rounded predictions)."""


def semitones_to_normalized(semitones: float, log_f0_std: float) -> float:
    """Convert a pitch shift in semitones to the model's normalized pitch units.

    The model's pitch is natural-log F0 normalized by the dataset statistics,
    ``(ln f0 - mean) / std``. Shifting by ``s`` semitones multiplies F0 by ``2 ** (s / 12)``, i.e.
    adds ``s * ln(2) / 12`` to ln f0, which is ``s * ln(2) / (12 * std)`` normalized units
    (``log_f0_std``: the standard deviation of ln f0 over the training set's voiced frames).
    """
    if log_f0_std <= 0:
        raise ValueError(f"log_f0_std must be > 0, got {log_f0_std}")
    return float(semitones) * math.log(2.0) / (12.0 * float(log_f0_std))


def length_regulate(
    x: torch.Tensor, durations: torch.Tensor, max_frames: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Repeat each phoneme vector by its integer duration.

    Args:
        x: (B, L, H) phoneme-level hidden vectors.
        durations: (B, L) non-negative integer frame counts (0 drops the phoneme; padded
            phonemes must have 0).
        max_frames: if given, an utterance longer than this raises ValueError.

    Returns:
        frames (B, T, H) with T = max(mel_lens) and zeros beyond each utterance's length,
        mel_lens (B,), and index (B, T): the phoneme each frame came from (-1 on padding).
    """
    if durations.dim() != 2 or x.shape[:2] != durations.shape:
        raise ValueError(f"length_regulate: x {tuple(x.shape)} and durations {tuple(durations.shape)} "
                         "must share (B, L)")
    if durations.dtype.is_floating_point:
        if not torch.equal(durations, durations.round()):
            raise ValueError("length_regulate: durations must be whole numbers of frames")
    durations = durations.long()
    if bool((durations < 0).any()):
        raise ValueError(f"length_regulate: durations must be >= 0, got minimum {int(durations.min())}")
    mel_lens = durations.sum(1)
    total = int(mel_lens.max()) if mel_lens.numel() else 0
    if max_frames is not None and total > max_frames:
        raise ValueError(f"length_regulate: an utterance needs {total} frames, more than max_frames={max_frames} "
                         "(durations too long: check the speed control or the duration targets)")
    b, length = durations.shape
    ends = durations.cumsum(1)  # (B, L) frame index one past each phoneme
    steps = torch.arange(total, device=x.device).unsqueeze(0).expand(b, total).contiguous()
    # The phoneme of frame t is the first one whose end is > t (zero-length phonemes are skipped).
    index = torch.searchsorted(ends, steps, right=True).clamp_max(max(length - 1, 0))
    valid = lengths_to_mask(mel_lens, total)
    frames = torch.gather(x, 1, index.unsqueeze(-1).expand(b, total, x.shape[-1]))
    frames = frames * valid.unsqueeze(-1).to(frames.dtype)
    return frames, mel_lens, torch.where(valid, index, torch.full_like(index, -1))


class _ConvBlock(nn.Module):
    """conv -> ReLU -> LayerNorm -> dropout, plus the input (residual)."""

    def __init__(self, channels: int, kernel: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.conv((x * mask).transpose(1, 2)).transpose(1, 2)
        return (x + self.dropout(self.norm(torch.relu(y)))) * mask


class ConvStack(nn.Module):
    """Residual 1-D conv blocks on (B, T, H); positions beyond ``lens`` are zeroed before each conv."""

    def __init__(self, channels: int, layers: int, kernel: int, dropout: float, recompute: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(_ConvBlock(channels, kernel, dropout) for _ in range(layers))
        self.recompute = recompute

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 0:
            return x
        mask = lengths_to_mask(lens, x.shape[1]).unsqueeze(-1).to(x.dtype)
        for block in self.blocks:
            x = maybe_recompute(block, x, mask, enabled=self.recompute and self.training)
        return x


class LSTMStack(nn.Module):
    """Bidirectional LSTM layers (``channels // 2`` cells per direction) on packed sequences.

    Rows of length 0 are run as length 1 and zeroed afterwards (packing needs >= 1 step).
    """

    def __init__(self, channels: int, layers: int, dropout: float, recompute: bool = False):
        super().__init__()
        self.lstms = nn.ModuleList(
            nn.LSTM(channels, channels // 2, batch_first=True, bidirectional=True) for _ in range(layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.recompute = recompute

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        total = x.shape[1]
        if total == 0:
            return x
        mask = lengths_to_mask(lens, total).unsqueeze(-1).to(x.dtype)
        run_lens = lens.clamp_min(1).cpu()
        for i in range(len(self.lstms)):
            x = maybe_recompute(self._layer, i, x, run_lens, enabled=self.recompute and self.training)
        return x * mask

    def _layer(self, i: int, x: torch.Tensor, run_lens: torch.Tensor) -> torch.Tensor:
        """Layer i (dropout after the first, then the BiLSTM): (B, T, H) -> (B, T, H); one unit to recompute."""
        if i > 0:
            x = self.dropout(x)
        packed = pack_padded_sequence(x, run_lens, batch_first=True, enforce_sorted=False)
        y, _ = self.lstms[i](packed)
        return pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])[0]


def _make_stack(kind: str, channels: int, layers: int, kernel: int, dropout: float, recompute: bool) -> nn.Module:
    if kind == "lstm":
        return LSTMStack(channels, layers, dropout, recompute)
    return ConvStack(channels, layers, kernel, dropout, recompute)


class VariancePredictor(nn.Module):
    """Two (conv -> ReLU -> LayerNorm -> dropout) layers and a linear: (B, L, H) -> (B, L) scalar per position."""

    def __init__(self, in_channels: int, channels: int, kernel: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, channels, kernel, padding=kernel // 2)
        self.norm1 = nn.LayerNorm(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.norm2 = nn.LayerNorm(channels)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, L, H), mask: (B, L, 1) float -> (B, L), zero on padding."""
        y = self.dropout(self.norm1(torch.relu(self.conv1((x * mask).transpose(1, 2)).transpose(1, 2))))
        y = self.dropout(self.norm2(torch.relu(self.conv2((y * mask).transpose(1, 2)).transpose(1, 2))))
        return (self.out(y) * mask).squeeze(-1)


class _ValueEmbedding(nn.Module):
    """Embeds a normalized scalar sequence (B, L) into (B, L, H): bucketize + lookup, or a 1-D conv."""

    def __init__(self, kind: str, hidden: int, n_bins: int, lo: float, hi: float):
        super().__init__()
        self.kind = kind
        if kind == "bins":
            # n_bins - 1 boundaries -> bucket ids 0 .. n_bins - 1. Made on the CPU whatever the default
            # device (the module's .to() moves it): linspace on torch's meta device, where packages are
            # checked, would load torch's symbolic-shape machinery (~0.7 s of start-up).
            self.register_buffer("boundaries", torch.linspace(lo, hi, n_bins - 1, device="cpu"), persistent=False)
            self.table = nn.Embedding(n_bins, hidden)
        else:
            self.conv = nn.Conv1d(1, hidden, 3, padding=1)

    def forward(self, value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.kind == "bins":
            ids = torch.bucketize(value.detach().contiguous(), self.boundaries.to(value.dtype))
            return self.table(ids) * mask
        return self.conv((value * mask.squeeze(-1)).unsqueeze(1)).transpose(1, 2) * mask


class PostNet(nn.Module):
    """Conv layers (tanh between them; LayerNorm over channels) predicting a residual for the mel."""

    def __init__(self, n_mels: int, channels: int, layers: int, kernel: int, dropout: float):
        super().__init__()
        dims = [n_mels] + [channels] * (layers - 1) + [n_mels]
        self.convs = nn.ModuleList(nn.Conv1d(a, b, kernel, padding=kernel // 2) for a, b in zip(dims, dims[1:]))
        self.norms = nn.ModuleList(nn.LayerNorm(c) for c in dims[1:-1])
        self.dropout = nn.Dropout(dropout)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """mel: (B, T, n_mels), mask: (B, T, 1) -> residual (B, T, n_mels), zero on padding."""
        if mel.shape[1] == 0:
            return mel
        x = mel
        for i, conv in enumerate(self.convs):
            x = conv((x * mask).transpose(1, 2)).transpose(1, 2)
            if i < len(self.norms):
                x = self.dropout(torch.tanh(self.norms[i](x)))
        return x * mask


class FastSpeech2(nn.Module):
    """FastSpeech2-style acoustic model; see the module docstring for the data flow."""

    def __init__(self, vocab_size: int, n_mels: int, cfg: FastSpeech2Config):
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"model.tts: vocab_size must be >= 2 (padding id 0 + symbols), got {vocab_size}")
        if n_mels < 1:
            raise ValueError(f"model.tts: n_mels must be >= 1, got {n_mels}")
        self.vocab_size = vocab_size
        self.n_mels = n_mels
        self.cfg = cfg
        h = cfg.hidden_size
        self.embedding = nn.Embedding(vocab_size, h, padding_idx=0)
        self.encoder = _make_stack(cfg.encoder, h, cfg.encoder_layers, cfg.kernel_size, cfg.dropout, cfg.recompute)
        self.speaker_embedding = nn.Embedding(cfg.n_speakers, h) if cfg.n_speakers > 1 else None
        args = (h, cfg.variance_hidden, cfg.variance_kernel, cfg.variance_dropout)
        self.duration_predictor = VariancePredictor(*args)
        self.pitch_predictor = VariancePredictor(*args)
        self.energy_predictor = VariancePredictor(*args)
        emb = (cfg.variance_embedding, h, cfg.n_bins, cfg.bins_min, cfg.bins_max)
        self.pitch_embedding = _ValueEmbedding(*emb)
        self.energy_embedding = _ValueEmbedding(*emb)
        self.frame_position = nn.Linear(2, h) if cfg.frame_position else None
        self.decoder = _make_stack(cfg.decoder, h, cfg.decoder_layers, cfg.kernel_size, cfg.dropout, cfg.recompute)
        self.mel_linear = nn.Linear(h, n_mels)
        self.postnet = (
            PostNet(n_mels, cfg.postnet_channels, cfg.postnet_layers, cfg.postnet_kernel, cfg.dropout)
            if cfg.postnet else None
        )

    def num_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _round_durations(self, log_duration: torch.Tensor, lens: torch.Tensor, speed: float) -> torch.Tensor:
        """Predicted log(1 + frames) -> integer frames >= 0, divided by ``speed``; >= 1 frame per utterance."""
        mask = lengths_to_mask(lens, log_duration.shape[1])
        frames = torch.clamp(torch.expm1(log_duration.float()) / speed, min=0.0)
        durations = torch.round(frames).long() * mask
        # An utterance whose every phoneme rounds to 0 frames still gets one frame (its longest phoneme).
        empty = (durations.sum(1) == 0) & (lens > 0)
        if bool(empty.any()):
            longest = frames.masked_fill(~mask, -1.0).argmax(1)
            bump = torch.zeros_like(durations).scatter_(1, longest.unsqueeze(1), 1)
            durations = durations + bump * empty.unsqueeze(1).long()
        return durations

    def forward(
        self,
        phonemes: torch.Tensor,
        phoneme_lens: torch.Tensor,
        durations: torch.Tensor | None = None,
        pitch: torch.Tensor | None = None,
        energy: torch.Tensor | None = None,
        speakers: torch.Tensor | None = None,
        speed: float = 1.0,
        pitch_shift: float = 0.0,
        energy_scale: float = 1.0,
    ) -> FastSpeech2Output:
        """Synthesize mel frames.

        Args:
            phonemes: (B, L) ids, 0 = padding. phoneme_lens: (B,) valid phonemes per row.
            durations, pitch, energy: (B, L) targets for teacher forcing (training); each one left
                None is replaced by the model's prediction (inference needs none of them).
            speakers: (B,) speaker ids; required when ``n_speakers > 1``.
            speed: > 0; predicted durations are divided by it (2.0 = twice as fast). Ignored
                when ``durations`` is given.
            pitch_shift: added to the normalized pitch used (see :func:`semitones_to_normalized`).
            energy_scale: multiplies the normalized energy used (> 1 exaggerates loudness contrasts).
        """
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        b, length = phonemes.shape
        phoneme_lens = phoneme_lens.to(phonemes.device)
        mask = lengths_to_mask(phoneme_lens, length).unsqueeze(-1)
        fmask = mask.to(self.embedding.weight.dtype)

        x = self.embedding(phonemes * mask.squeeze(-1).long()) * fmask
        x = self.encoder(x, phoneme_lens)
        if self.speaker_embedding is not None:
            if speakers is None:
                raise ValueError(f"speakers (B,) is required: the model has n_speakers={self.cfg.n_speakers}")
            x = x + self.speaker_embedding(speakers.to(phonemes.device)).unsqueeze(1) * fmask

        log_duration_pred = self.duration_predictor(x, fmask)
        pitch_pred = self.pitch_predictor(x, fmask)
        energy_pred = self.energy_predictor(x, fmask)

        pitch_used = (pitch_pred if pitch is None else pitch.to(device=x.device, dtype=x.dtype)) + pitch_shift
        energy_used = (energy_pred if energy is None else energy.to(device=x.device, dtype=x.dtype)) * energy_scale
        x = x + self.pitch_embedding(pitch_used * fmask.squeeze(-1), fmask)
        x = x + self.energy_embedding(energy_used * fmask.squeeze(-1), fmask)

        if durations is None:
            durations_used = self._round_durations(log_duration_pred.detach(), phoneme_lens, speed)
        else:
            durations_used = durations.to(phonemes.device).long() * mask.squeeze(-1)
        frames, mel_lens, index = length_regulate(x, durations_used, self.cfg.max_frames)
        frame_mask = (index >= 0).unsqueeze(-1).to(frames.dtype)

        if self.frame_position is not None and frames.shape[1] > 0:
            safe = index.clamp_min(0)
            dur = torch.gather(durations_used, 1, safe).to(frames.dtype).clamp_min(1.0)
            start = torch.gather(durations_used.cumsum(1), 1, safe).to(frames.dtype) - dur
            steps = torch.arange(frames.shape[1], device=frames.device, dtype=frames.dtype).unsqueeze(0)
            rel = (steps - start + 0.5) / dur  # in (0, 1): where the frame sits inside its phoneme
            feats = torch.stack([rel, torch.log1p(dur)], dim=-1)
            frames = frames + self.frame_position(feats) * frame_mask

        y = self.decoder(frames, mel_lens)
        mel = self.mel_linear(y) * frame_mask
        mel_postnet = mel + self.postnet(mel, frame_mask) if self.postnet is not None else None
        return FastSpeech2Output(mel, mel_postnet, mel_lens, log_duration_pred, pitch_pred, energy_pred,
                                 durations_used)


def fastspeech2(vocab_size: int, n_mels: int, **kwargs) -> FastSpeech2:
    """Factory used by the Hydra config ``model/tts/fastspeech2``: keyword arguments are
    :class:`FastSpeech2Config` fields; an unknown field raises a TypeError naming it.

    ``vocab_size``: ``len(PhonemeTokenizer(...))`` (id 0 = padding); ``n_mels``: the feature
    config's ``FbankConfig.n_mels``, so the output matches the vocoder's input.
    """
    try:
        cfg = FastSpeech2Config(**kwargs)
    except TypeError as e:
        raise TypeError(f"model.tts: {e}; valid fields: {', '.join(FastSpeech2Config.__dataclass_fields__)}") from None
    return FastSpeech2(vocab_size, n_mels, cfg)


fastspeech2.config_class = FastSpeech2Config  # the dataclass its keyword arguments are fields of
