"""Log-mel filterbank features: a config, pure functions, and a batched Module.

One :class:`FbankConfig` describes the mel features shared by ASR, TTS and the vocoder.

Framing ("snip edges", no centring): frame ``t`` covers samples ``[t * hop, t * hop + win)``, and
only whole frames are produced, so ``N`` samples give ``1 + (N - win) // hop`` frames. An input
shorter than one window (``1 <= N < win``) is zero-padded to one window and gives exactly one frame;
``N == 0`` gives zero frames. :func:`num_frames` returns this count. Because a valid frame never
reads past sample ``N``, a batch padded on the right gives exactly the per-utterance features in
its first ``num_frames(len)`` frames.

Pipeline per frame: optional dither -> pre-emphasis (on the whole waveform) -> frames -> periodic
Hann window of ``win_length`` -> real FFT of ``fft_size`` -> power spectrum -> HTK mel filterbank
(HTK mel, unnormalized: the values of torchaudio's ``melscale_fbanks``, ``norm=None``) -> ``log(max(energy, log_floor))``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["FbankConfig", "LogMelFbank", "log_mel", "mel_filterbank", "normalize_level", "num_frames"]


@dataclass
class FbankConfig:
    """Log-mel filterbank settings (shared by ASR, TTS and vocoder)."""

    # Sample rate (Hz) of the waveforms the features are computed from.
    sample_rate: int = 16000
    # Number of mel bands F (the feature dimension).
    n_mels: int = 80
    # Analysis window length in milliseconds (25 ms -> 400 samples at 16 kHz).
    win_ms: float = 25.0
    # Frame shift in milliseconds (10 ms -> 160 samples at 16 kHz, i.e. 100 frames per second).
    hop_ms: float = 10.0
    # FFT size in samples. None -> the next power of two >= the window length, raised further (by
    # powers of two) until every mel filter covers at least one FFT bin. An explicit value must be
    # >= the window length and must leave no mel filter empty.
    n_fft: int | None = None
    # Lowest frequency (Hz) of the mel filterbank.
    f_min: float = 20.0
    # Highest frequency (Hz) of the mel filterbank; None -> sample_rate / 2 (Nyquist).
    f_max: float | None = None
    # Mel energies are clamped to at least this value before the natural log (log(1e-6) ~ -13.8).
    log_floor: float = 1e-6
    # Pre-emphasis coefficient a in y[n] = x[n] - a * x[n - 1]; 0 disables it.
    preemphasis: float = 0.97
    # Standard deviation of Gaussian noise added to the waveform before analysis (0 disables it).
    # The functional log_mel always applies it; LogMelFbank applies it only in training mode.
    dither: float = 0.0
    # Level normalization: each waveform (each utterance, or each segment of a long file) is scaled
    # so that its RMS is this many dB below full scale before analysis, which makes the features
    # independent of the recording level (a quieter take or a channel averaged down reads the same;
    # without it quiet audio sinks into log_floor). None: analyse the level as recorded. Digital
    # silence (RMS below 1e-7) is left as it is. Needs the whole utterance: not for streaming models.
    level_db: float | None = None

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"FbankConfig.sample_rate={self.sample_rate}; expected > 0")
        if self.n_mels <= 0:
            raise ValueError(f"FbankConfig.n_mels={self.n_mels}; expected > 0")
        if self.win_length < 1 or self.hop_length < 1:
            raise ValueError(f"FbankConfig win_ms={self.win_ms}, hop_ms={self.hop_ms} give "
                             f"{self.win_length}/{self.hop_length} samples; expected >= 1 each")
        if self.log_floor <= 0:
            raise ValueError(f"FbankConfig.log_floor={self.log_floor}; expected > 0")
        if not 0 <= self.f_min < self.mel_f_max <= self.sample_rate / 2:
            raise ValueError(f"FbankConfig f_min={self.f_min}, f_max={self.f_max}; expected "
                             f"0 <= f_min < f_max <= sample_rate/2 = {self.sample_rate / 2}")
        if self.dither < 0:
            raise ValueError(f"FbankConfig.dither={self.dither}; expected >= 0")
        if self.level_db is not None and not (isinstance(self.level_db, (int, float)) and -80 <= self.level_db <= 0):
            raise ValueError(f"FbankConfig.level_db={self.level_db!r}; expected null or a level in dB full scale "
                             f"between -80 and 0 (e.g. -20)")

    @property
    def win_length(self) -> int:
        """Window length in samples: ``round(sample_rate * win_ms / 1000)``."""
        return int(round(self.sample_rate * self.win_ms / 1000.0))

    @property
    def hop_length(self) -> int:
        """Frame shift in samples: ``round(sample_rate * hop_ms / 1000)``."""
        return int(round(self.sample_rate * self.hop_ms / 1000.0))

    @property
    def mel_f_max(self) -> float:
        """``f_max`` with None resolved to ``sample_rate / 2``."""
        return float(self.sample_rate) / 2 if self.f_max is None else float(self.f_max)

    @property
    def fft_size(self) -> int:
        """FFT size actually used (see ``n_fft``)."""
        return _fft_size(self.sample_rate, self.n_mels, float(self.f_min), self.mel_f_max,
                         self.win_length, self.n_fft)

    def runtime_settings(self) -> dict:
        """These features as the plain mapping the torch-free runtime reads (:mod:`speech.runtime.features`;
        an ONNX export's ``features``): derived sizes resolved, dither left out (training only)."""
        return {"sample_rate": int(self.sample_rate), "n_mels": int(self.n_mels), "win_length": self.win_length,
                "hop_length": self.hop_length, "fft_size": self.fft_size, "f_min": float(self.f_min),
                "f_max": self.mel_f_max, "log_floor": float(self.log_floor), "preemphasis": float(self.preemphasis),
                "level_db": None if self.level_db is None else float(self.level_db)}



@functools.lru_cache(maxsize=8)
def fbank_preset(name: str) -> FbankConfig:
    """The ``fbank`` node of ``conf/features/<name>.yaml`` as an :class:`FbankConfig`: the YAML is the one
    place a named feature setting is written down (e.g. ``"tts22k"``, the synthesis mels shared by the
    acoustic model and every vocoder). Read with a plain YAML parser, no Hydra; cached."""
    import importlib.resources

    import yaml

    text = importlib.resources.files("speech.conf").joinpath("features", f"{name}.yaml").read_text("utf-8")
    node = dict((yaml.safe_load(text) or {}).get("fbank") or {})
    node.pop("_target_", None)
    return FbankConfig(**node)


def tts_fbank() -> FbankConfig:
    """The synthesis mel config (``conf/features/tts22k.yaml``): 22.05 kHz, 1024-sample window and FFT,
    256-sample hop (11.6 ms), 80 mel bands 0-8 kHz, no pre-emphasis. Shared by the acoustic model and
    the vocoders (:meth:`speech.models.vocoders.base.Vocoder.check_compatible`)."""
    return fbank_preset("tts22k")


def _empty_filters(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> int:
    fb = _mel_fbanks_cpu(n_freqs, f_min, f_max, n_mels, sample_rate)
    return int((fb.amax(dim=0) == 0).sum())


def hz_to_mel(f):
    """HTK mel of ``f`` Hz: a tensor gives a tensor; a float or a numpy array, numpy's (a float64 is a float)."""
    return 2595.0 * (torch.log10 if isinstance(f, Tensor) else np.log10)(1.0 + f / 700.0)


def mel_to_hz(m):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * ((torch.pow if isinstance(m, Tensor) else np.power)(10.0, m / 2595.0) - 1.0)


@functools.lru_cache(maxsize=64)
def _mel_fbanks_cpu(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> Tensor:
    """(n_freqs, n_mels) triangular HTK-mel filters on the STFT bins 0 .. sample_rate / 2, unnormalized
    (the values of torchaudio's ``melscale_fbanks(..., norm=None, mel_scale="htk")``, which the tests
    compare against; made here because importing torchaudio.functional costs every start-up ~25 ms)."""
    # Cached tensors are made outside inference mode whatever the caller's mode: an inference tensor
    # first made for a Transcriber would break autograd in every later training call.
    with torch.inference_mode(False):
        bins = torch.linspace(0.0, float(sample_rate // 2), n_freqs, dtype=torch.float32)
        mels = torch.linspace(hz_to_mel(float(f_min)), hz_to_mel(float(f_max)), n_mels + 2, dtype=torch.float32)
        edges = mel_to_hz(mels)  # filter corners in Hz: n_mels + 2
        width = edges[1:] - edges[:-1]  # (n_mels + 1,)
        to_edge = edges[None, :] - bins[:, None]  # (n_freqs, n_mels + 2): corner minus bin frequency
        rising = -to_edge[:, :-2] / width[:-1]  # from the left corner up to the peak
        falling = to_edge[:, 2:] / width[1:]  # from the peak down to the right corner
        return torch.clamp(torch.minimum(rising, falling), min=0.0)


@functools.lru_cache(maxsize=64)
def _fft_size(sample_rate: int, n_mels: int, f_min: float, f_max: float, win_length: int,
              n_fft: int | None) -> int:
    if n_fft is not None:
        if n_fft < win_length:
            raise ValueError(f"FbankConfig.n_fft={n_fft} is shorter than the window "
                             f"({win_length} samples); expected n_fft >= win_length")
        empty = _empty_filters(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate)
        if empty:
            raise ValueError(f"FbankConfig.n_fft={n_fft} leaves {empty} of {n_mels} mel filters "
                             f"empty at sample_rate={sample_rate}; expected a larger n_fft, fewer "
                             "n_mels, or n_fft=None to choose one")
        return n_fft
    size = 1 << max(0, (win_length - 1).bit_length())
    while _empty_filters(size // 2 + 1, f_min, f_max, n_mels, sample_rate):
        if size >= 1 << 16:
            raise ValueError(f"FbankConfig: n_mels={n_mels} between {f_min} and {f_max} Hz at "
                             f"sample_rate={sample_rate} leaves empty mel filters even with "
                             f"n_fft={size}; expected fewer n_mels")
        size *= 2
    return size


def mel_filterbank(cfg: FbankConfig, device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """The mel filterbank matrix of shape ``(fft_size // 2 + 1, n_mels)`` (HTK scale, unnormalised).

    Cached per (config, device, dtype): do not modify the returned tensor in place.
    """
    window, fb = _analysis_tensors(cfg.win_length, cfg.fft_size, cfg.n_mels, cfg.sample_rate,
                                   float(cfg.f_min), cfg.mel_f_max, torch.device(device or "cpu"), dtype)
    return fb


@functools.lru_cache(maxsize=32)
def _analysis_tensors(win_length: int, fft_size: int, n_mels: int, sample_rate: int, f_min: float,
                      f_max: float, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    with torch.inference_mode(False):  # cached: never inference tensors (see _mel_fbanks_cpu)
        window = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
        fb = _mel_fbanks_cpu(fft_size // 2 + 1, f_min, f_max, n_mels, sample_rate)
        return window.to(device=device, dtype=dtype), fb.to(device=device, dtype=dtype)


def num_frames(num_samples: int | Tensor, cfg: FbankConfig) -> int | Tensor:
    """Number of frames :func:`log_mel` gives for ``num_samples`` samples.

    ``1 + (N - win) // hop`` for ``N >= win``, ``1`` for ``1 <= N < win`` (padded to one window),
    ``0`` for ``N == 0``.

    Args:
        num_samples: an int, or an integer tensor of lengths of any shape (e.g. ``(B,)``).

    Returns:
        int, or an int64 tensor of the same shape and device.
    """
    win, hop = cfg.win_length, cfg.hop_length
    if isinstance(num_samples, Tensor):
        n = num_samples.long()
        if bool((n < 0).any()):
            raise ValueError("num_frames: negative number of samples")
        full = 1 + torch.div((n - win).clamp_min(0), hop, rounding_mode="floor")
        return torch.where(n > 0, full, torch.zeros_like(n))
    n = int(num_samples)
    if n < 0:
        raise ValueError(f"num_frames: num_samples={n}; expected >= 0")
    if n == 0:
        return 0
    return 1 + max(0, n - win) // hop


def _preemphasize(wav: Tensor, coef: float) -> Tensor:
    if coef == 0 or wav.shape[-1] < 2:
        return wav
    return torch.cat([wav[..., :1], wav[..., 1:] - coef * wav[..., :-1]], dim=-1)


SILENT_RMS = 1e-7
"""Below this RMS a waveform counts as digital silence and level normalization leaves it alone."""


def normalize_level(wav: Tensor, level_db: float, lengths: Tensor | None = None) -> Tensor:
    """``wav`` (..., N) scaled so each row's RMS is ``level_db`` dB full scale (the mean over its first
    ``lengths`` samples when given, for right-padded batches); rows of digital silence unchanged."""
    power = wav.pow(2)
    if lengths is None:
        ms = power.mean(-1, keepdim=True)
    else:
        ms = power.sum(-1, keepdim=True) / lengths.to(wav.dtype).clamp_min(1).reshape(*wav.shape[:-1], 1)
    rms = ms.sqrt()
    target = 10.0 ** (float(level_db) / 20.0)
    gain = torch.where(rms > SILENT_RMS, target / rms.clamp_min(SILENT_RMS), torch.ones_like(rms))
    return wav * gain


def log_mel(wav: Tensor, cfg: FbankConfig) -> Tensor:
    """Natural-log mel filterbank energies.

    Args:
        wav: float waveform(s) of shape ``(..., N)`` (e.g. ``(N,)`` or ``(B, N)``), values in
            ``[-1, 1]``, at ``cfg.sample_rate``. Any device.
        cfg: the feature settings. ``cfg.dither > 0`` adds noise drawn from the global RNG.

    Returns:
        ``(..., T, F)`` with ``T = num_frames(N, cfg)`` and ``F = cfg.n_mels``, same dtype as ``wav``
        (float16/bfloat16 inputs are computed in float32).
    """
    if not isinstance(wav, Tensor) or not wav.is_floating_point():
        raise TypeError(f"log_mel: expected a floating-point tensor (..., N), got "
                        f"{getattr(wav, 'dtype', type(wav).__name__)}")
    out_dtype = wav.dtype
    x = wav if wav.dtype in (torch.float32, torch.float64) else wav.float()
    win, hop, n_fft = cfg.win_length, cfg.hop_length, cfg.fft_size
    n = x.shape[-1]
    if n == 0:
        return x.new_zeros(*x.shape[:-1], 0, cfg.n_mels).to(out_dtype)
    if cfg.level_db is not None:
        x = normalize_level(x, cfg.level_db)
    if cfg.dither > 0:
        x = x + cfg.dither * torch.randn_like(x)
    if n < win:  # pad before pre-emphasis so a short input matches its zero-padded batch row
        x = torch.nn.functional.pad(x, (0, win - n))
    x = _preemphasize(x, cfg.preemphasis)
    window, fb = _analysis_tensors(win, n_fft, cfg.n_mels, cfg.sample_rate, float(cfg.f_min),
                                   cfg.mel_f_max, x.device, x.dtype)
    frames = x.unfold(-1, win, hop) * window  # (..., T, win)
    spec = torch.fft.rfft(frames, n=n_fft, dim=-1)  # (..., T, n_fft // 2 + 1)
    power = torch.view_as_real(spec).pow(2).sum(-1)
    mel = torch.matmul(power, fb)  # (..., T, F)
    return mel.clamp_min(cfg.log_floor).log().to(out_dtype)


class LogMelFbank(nn.Module):
    """Batched log-mel features with lengths: ``(B, N), (B,) -> (B, T, F), (B,)``.

    Samples at or beyond ``wav_lens`` are ignored (treated as zeros), and frames at or beyond the
    returned ``feat_lens`` are set to 0, so each utterance's features equal ``log_mel`` of that
    utterance alone. Dither (``cfg.dither``) is applied only in training mode.
    """

    def __init__(self, cfg: FbankConfig):
        super().__init__()
        self.cfg = cfg

    def forward(self, wav: Tensor, wav_lens: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """
        Args:
            wav: ``(B, N)`` float waveforms, right-padded.
            wav_lens: ``(B,)`` integer numbers of valid samples; None means all ``N``.

        Returns:
            ``feats`` ``(B, T, F)`` with ``T = num_frames(N)``, ``F = n_mels``, and ``feat_lens``
            ``(B,)`` int64 ``= num_frames(wav_lens)``.
        """
        if wav.dim() != 2:
            raise ValueError(f"LogMelFbank: expected wav of shape (B, N), got {tuple(wav.shape)}")
        b, n = wav.shape
        if wav_lens is None:
            wav_lens = torch.full((b,), n, dtype=torch.long, device=wav.device)
        wav_lens = wav_lens.to(device=wav.device, dtype=torch.long)
        sample_idx = torch.arange(n, device=wav.device)
        wav = wav.masked_fill(sample_idx[None, :] >= wav_lens[:, None], 0.0)
        cfg = self.cfg
        if cfg.dither > 0 and not self.training:
            cfg = dataclasses.replace(cfg, dither=0.0)
        if cfg.level_db is not None:  # each row over its own samples, not the padding
            wav = normalize_level(wav, cfg.level_db, wav_lens)
            cfg = dataclasses.replace(cfg, level_db=None)
        feats = log_mel(wav, cfg)  # (B, T, F)
        feat_lens = num_frames(wav_lens, cfg)
        frame_idx = torch.arange(feats.shape[1], device=wav.device)
        feats = feats.masked_fill((frame_idx[None, :] >= feat_lens[:, None])[..., None], 0.0)
        return feats, feat_lens

    def extra_repr(self) -> str:
        c = self.cfg
        return (f"sample_rate={c.sample_rate}, n_mels={c.n_mels}, win={c.win_length}, "
                f"hop={c.hop_length}, n_fft={c.fft_size}")
