"""Signal measures of synthesized vs real speech: mel-cepstral distortion, F0 error and voicing error.

Measures (per held-out prompt, then averaged):

* **MCD** (:func:`mcd_dtw`, dB): mel-cepstral distortion between the real and the synthesized
  recording after dynamic time warping (DTW) of their cepstra, on mel-filterbank cepstra ("MCD
  mel-fbank" in tables).
* **Standard MCD** (:func:`mcd_world`, dB): the same distance on WORLD/SPTK mel-cepstra, the
  measure published numbers use ("MCD WORLD" in tables; needs pyworld and pysptk).
* **F0 RMSE** (:func:`f0_metrics`, Hz and cents) over frames voiced in both signals, and the
  **voicing decision error** (VDE, fraction of aligned frames whose voiced/unvoiced flags differ),
  on frames paired by the same DTW path.
* **Real-time factor** (:func:`evaluate_synthesis`): total synthesis seconds / total seconds of
  synthesized audio (< 1 is faster than real time).
* **Intelligibility**: word error rate of an independent recognizer
  (:class:`PocketSphinxRecognizer`, CMU PocketSphinx with its bundled US-English model; install
  with ``pip install 'speech[eval]'``) on the synthesized prompts, next to its WER on the real
  recordings of the same prompts (:func:`recognizer_wer`). The recognizer is weak (its WER on
  clean real speech is already well above zero), so only the difference between the two numbers
  is meaningful.

Mel-cepstrum convention
-----------------------
:func:`mel_cepstrum` frames the waveform at its own sample rate (no resampling) with
:func:`speech.features.functional.log_mel` and ``FbankConfig(sample_rate=sr, n_mels=80 (40 below
16 kHz), win_ms=46.4, hop_ms=11.6, preemphasis=0, f_min=0, f_max=min(8000, sr/2))`` -- the
1024-sample window / 256-sample hop of 22.05 kHz TTS front ends, expressed in milliseconds. The
natural log of the mel *amplitude* ``ln A_k`` (half the natural log of the mel power, power
floored at 1e-6 before the log), ``k = 0..N-1`` over the ``N`` mel bands, goes through a type-II
DCT scaled like a real cepstrum:

    c_d = (1 / N) * sum_k ln A_k * cos(pi * d * (k + 1/2) / N)

so that ``ln A`` on the (mel-warped) frequency axis is ``c_0 + 2 * sum_{d>=1} c_d cos(d w)``
(``c_0`` is the mean log amplitude, i.e. loudness). This scaling keeps the distance independent of
the number of mel bands (an orthonormal DCT would inflate it by ``sqrt(2N)``). With cepstra of the
natural-log amplitude spectrum, the standard

    MCD = (10 / ln 10) * sqrt(2 * sum_{d=1..D} (c_d - c'_d)^2)   [dB]

is the usual dB-scaled cepstral distance. ``c_0`` is excluded (loudness differences do not
count), ``D = n_coeffs - 1`` (23 by default), and the value is averaged over the DTW-aligned frame
pairs. These are mel-filterbank cepstra, not SPTK ``mcep`` (all-pass warped) cepstra, so the
numbers compare between systems scored with this module, not with values quoted in papers.

DTW (:func:`dtw_path`): :func:`librosa.sequence.dtw` with Euclidean frame distance, steps
(1,1), (1,0), (0,1) with equal weights, no band constraint, both ends anchored. MCD and F0 both use
the path computed over ``c_1..c_D``.

Leading and trailing silence is trimmed from both signals before analysis
(``librosa.effects.trim(top_db=40)``, ``trim=True``); a signal that is silent throughout is kept
untrimmed so it still has frames.

NaN convention: ``f0_rmse_hz`` / ``f0_rmse_cents`` are NaN when no aligned frame pair is voiced in
both signals (e.g. one of them is silence or noise): the F0 error is then undefined, while the VDE
still counts the disagreement. Averages over utterances skip NaN and report how many utterances
had a defined value (``f0_utterances``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from speech.features.functional import FbankConfig, log_mel
from speech.features.prosody import frame_pitch

#: 10 / ln(10) * sqrt(2): MCD = MCD_CONST * ||c - c'||_2 over c_1..c_D (dB).
MCD_CONST = 10.0 / math.log(10.0) * math.sqrt(2.0)


TRIM_TOP_DB = 40.0


def _check_wav(wav: Any, name: str) -> np.ndarray:
    """A 1-D finite float64 copy of ``wav``; one-line ValueError naming ``name`` otherwise."""
    x = np.asarray(wav)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"{name}: expected a mono 1-D waveform, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name}: empty audio (0 samples)")
    if not np.issubdtype(x.dtype, np.floating):
        if np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"{name}: integer samples ({x.dtype}); expected float in [-1, 1]")
        raise ValueError(f"{name}: dtype {x.dtype}; expected float samples in [-1, 1]")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: audio contains NaN or infinite samples")
    return x


def _check_sr(sr: Any) -> int:
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sample rate sr={sr!r}; expected a positive integer (Hz)")
    return int(sr)


def _trim(x: np.ndarray) -> np.ndarray:
    """Drop leading/trailing parts more than 40 dB below the peak; all-silent input is kept whole."""
    import librosa

    if not np.any(x):
        return x
    y, _ = librosa.effects.trim(x, top_db=TRIM_TOP_DB)
    return y if y.size else x


def _prepare(ref_wav, syn_wav, sr, trim: bool) -> tuple[np.ndarray, np.ndarray, int]:
    sr = _check_sr(sr)
    ref, syn = _check_wav(ref_wav, "ref_wav"), _check_wav(syn_wav, "syn_wav")
    if trim:
        ref, syn = _trim(ref), _trim(syn)
    return ref, syn, sr


def analysis_config(sr: int) -> FbankConfig:
    """The filterbank :func:`mel_cepstrum` and the F0 frames use at sample rate ``sr`` (Hz).

    46.4 ms window, 11.6 ms hop (1024 / 256 samples at 22.05 kHz), no pre-emphasis, mel bands
    from 0 Hz to ``min(8000, sr / 2)``; 80 bands, or 40 below 16 kHz.
    """
    sr = _check_sr(sr)
    return FbankConfig(sample_rate=sr, n_mels=80 if sr >= 16000 else 40, win_ms=46.4, hop_ms=11.6,
                       preemphasis=0.0, f_min=0.0, f_max=min(8000.0, sr / 2), dither=0.0)


def mel_cepstrum(wav: np.ndarray, sr: int, n_coeffs: int = 24) -> np.ndarray:
    """Mel-filterbank cepstra of a waveform (see the module docstring for the convention).

    Args:
        wav: mono float waveform, shape ``(num_samples,)``, values in ``[-1, 1]``, at ``sr``.
        sr: its sample rate in Hz (no resampling is done; frames are 46.4 ms / 11.6 ms).
        n_coeffs: number of cepstral coefficients to return, ``c_0`` included
            (at most the number of mel bands).

    Returns:
        float64 ``(T, n_coeffs)``: ``c_d = (1/N) sum_k ln A_k cos(pi d (k + 1/2) / N)`` over the
        ``N`` mel bands' amplitudes ``A_k``; column 0 is ``c_0`` (mean log amplitude).
        ``T = num_frames(len(wav), analysis_config(sr))``.
        No silence trimming here.
    """
    import torch
    from scipy.fft import dct

    x = _check_wav(wav, "wav")
    cfg = analysis_config(sr)
    if not 1 <= n_coeffs <= cfg.n_mels:
        raise ValueError(f"n_coeffs={n_coeffs}; expected 1..{cfg.n_mels} (mel bands at sr={sr})")
    with torch.no_grad():
        log_power = log_mel(torch.from_numpy(x), cfg).numpy()  # (T, n_mels), natural log of power
    # scipy's unnormalized DCT-II is 2 * sum_k x_k cos(pi d (k + 1/2) / N): divide by 2N.
    return dct(0.5 * log_power, type=2, axis=-1)[:, :n_coeffs] / (2 * cfg.n_mels)


def dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost monotonic alignment of two feature sequences.

    :func:`librosa.sequence.dtw` with Euclidean distance between frames, unit steps (1,1), (1,0),
    (0,1) of equal weight, both ends anchored (``(0, 0)`` and ``(Ta-1, Tb-1)`` are on the path).

    Args:
        a: ``(Ta, D)`` features; b: ``(Tb, D)`` features (same ``D``).

    Returns:
        ``(idx_a, idx_b)``: int arrays of equal length ``L`` (``max(Ta, Tb) <= L <= Ta + Tb - 1``),
        non-decreasing, such that frame ``a[idx_a[k]]`` is paired with ``b[idx_b[k]]``.
    """
    import librosa

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"dtw_path: expected (Ta, D) and (Tb, D) features, got {a.shape} and {b.shape}")
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"dtw_path: empty sequence ({len(a)} and {len(b)} frames)")
    _, wp = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean")
    wp = wp[::-1]
    return wp[:, 0].astype(np.int64), wp[:, 1].astype(np.int64)


def _aligned_cepstra(ref, syn, sr, n_coeffs):
    cr, cs = mel_cepstrum(ref, sr, n_coeffs)[:, 1:], mel_cepstrum(syn, sr, n_coeffs)[:, 1:]
    ia, ib = dtw_path(cr, cs)
    return cr, cs, ia, ib


def mcd_from_cepstra(cr: np.ndarray, cs: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> float:
    """``mean_k MCD_CONST * ||cr[ia[k]] - cs[ib[k]]||`` (dB): cepstra (T, D) without ``c_0``, paired frames."""
    return float(MCD_CONST * np.linalg.norm(cr[ia] - cs[ib], axis=1).mean())


WORLD_FRAME_MS = 5.0
"""Frame period of the WORLD analysis behind :func:`world_mel_cepstrum` (ms)."""
WORLD_SR = 16000
"""Rate :func:`mcd_world` analyses at by default (Hz): most published MCDs are computed at 16 kHz, and
the toolkit's synthesis mels stop at 8 kHz, so a band above it that one system never carries (and a
32 kbit/s MP3 drops) would otherwise decide the number."""
WORLD_FLOOR = 1e-8
"""Floor of WORLD's power envelope before the mel-cepstrum (the ``eps`` SPTK-based MCD tools add):
below it a band is numerically empty, and its logarithm would swamp every other coefficient."""


def world_mel_cepstrum(wav: np.ndarray, sr: int, order: int = 24, alpha: float | None = None,
                       floor: float = WORLD_FLOOR) -> np.ndarray:
    """SPTK mel-cepstrum ``(T, order + 1)`` of WORLD's spectral envelope: the standard MCD features.

    WORLD (``pyworld``): DIO + StoneMask F0 and the CheapTrick envelope every 5 ms, floored at
    ``floor``; SPTK (``pysptk.sp2mc``): its all-pass warped mel-cepstrum of ``order`` with the
    frequency-warping constant ``alpha`` that best fits the mel scale at ``sr``
    (``pysptk.util.mcepalpha``: 0.42 at 16 kHz, 0.455 at 22.05 kHz) unless given. Needs the
    ``eval`` extra (pyworld, pysptk).
    """
    try:
        import pysptk
        import pyworld
    except ImportError as e:
        raise ImportError(f"world_mel_cepstrum needs pyworld and pysptk ({e.name} is missing): "
                          "pip install 'speech[eval]'") from None
    x = np.ascontiguousarray(_check_wav(wav, "wav"), dtype=np.float64)
    sr = _check_sr(sr)
    f0, t = pyworld.dio(x, sr, frame_period=WORLD_FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, sr)
    envelope = np.maximum(pyworld.cheaptrick(x, f0, t, sr), floor)
    a = pysptk.util.mcepalpha(sr) if alpha is None else float(alpha)
    return pysptk.sp2mc(envelope, order=order, alpha=a)


def mcd_world(ref_wav: np.ndarray, syn_wav: np.ndarray, sr: int, order: int = 24, trim: bool = True,
              analysis_sr: int | None = WORLD_SR) -> float:
    """The standard mel-cepstral distortion (dB): WORLD/SPTK mel-cepstra (:func:`world_mel_cepstrum`),
    ``c_1..c_order`` aligned by :func:`dtw_path`, ``MCD_CONST * ||c - c'||`` averaged over the pairs.

    Both signals are resampled to ``analysis_sr`` first (16 kHz; None: analyse at ``sr``; never
    upsampled). This is the kind of measure papers and SPTK-based tools quote (order 24, 5 ms
    frames); :func:`mcd_dtw` is a different, mel-filterbank cepstral distance, named apart in every
    table because the two rank systems differently (Griffin-Lim copy synthesis looks good to the
    filterbank one, whose features it inverts).
    """
    ref, syn, sr = _prepare(ref_wav, syn_wav, sr, trim)
    if analysis_sr is not None and analysis_sr < sr:
        import librosa

        ref, syn = (librosa.resample(x, orig_sr=sr, target_sr=analysis_sr) for x in (ref, syn))
        sr = analysis_sr
    cr, cs = world_mel_cepstrum(ref, sr, order)[:, 1:], world_mel_cepstrum(syn, sr, order)[:, 1:]
    return mcd_from_cepstra(cr, cs, *dtw_path(cr, cs))


def mcd_dtw(ref_wav: np.ndarray, syn_wav: np.ndarray, sr: int, n_coeffs: int = 24,
            trim: bool = True) -> float:
    """Mel-cepstral distortion in dB between a real and a synthesized recording, after DTW.

    ``mean over aligned pairs of (10 / ln 10) * sqrt(2 * sum_{d=1..n_coeffs-1} (c_d - c'_d)^2)``
    with :func:`mel_cepstrum` cepstra and the :func:`dtw_path` alignment of ``c_1..c_D``.
    0 for identical signals; symmetric in its two arguments only up to DTW tie-breaking.

    Args:
        ref_wav, syn_wav: mono float waveforms at the same sample rate ``sr`` (Hz).
        n_coeffs: cepstral coefficients including ``c_0`` (which is not compared).
        trim: trim leading/trailing silence (40 dB below peak) from both first.
    """
    ref, syn, sr = _prepare(ref_wav, syn_wav, sr, trim)
    return mcd_from_cepstra(*_aligned_cepstra(ref, syn, sr, n_coeffs))


def _f0_from_path(ref, syn, sr, ia, ib, method: str) -> dict[str, float]:
    cfg = analysis_config(sr)
    fmax = min(600.0, sr / 2)
    lr, vr = frame_pitch(ref.astype(np.float32), cfg, fmax=fmax, method=method)
    ls, vs = frame_pitch(syn.astype(np.float32), cfg, fmax=fmax, method=method)
    vr, vs = vr[ia], vs[ib]
    vde = float(np.mean(vr != vs))
    both = vr & vs
    if not both.any():
        return {"f0_rmse_hz": math.nan, "f0_rmse_cents": math.nan, "vde": vde}
    lr, ls = lr[ia][both].astype(np.float64), ls[ib][both].astype(np.float64)
    rmse_hz = float(np.sqrt(np.mean((np.exp(ls) - np.exp(lr)) ** 2)))
    rmse_cents = float(np.sqrt(np.mean((1200.0 / math.log(2.0) * (ls - lr)) ** 2)))
    return {"f0_rmse_hz": rmse_hz, "f0_rmse_cents": rmse_cents, "vde": vde}


def f0_metrics(ref_wav: np.ndarray, syn_wav: np.ndarray, sr: int, trim: bool = True,
               method: str = "pyin") -> dict[str, float]:
    """F0 error and voicing agreement of a synthesized recording against a real one.

    F0 and voiced flags per analysis frame come from :func:`speech.features.prosody.frame_pitch`
    (65-600 Hz search range) on the frames of :func:`mel_cepstrum`; frames are paired by the
    :func:`dtw_path` over the mel cepstra (the same path :func:`mcd_dtw` uses).

    Args:
        ref_wav, syn_wav: mono float waveforms at the same sample rate ``sr`` (Hz).
        trim: trim leading/trailing silence from both first.
        method: ``"pyin"`` (accurate) or ``"yin"`` (~50x faster), see ``frame_pitch``.

    Returns:
        ``{"f0_rmse_hz", "f0_rmse_cents", "vde"}``: RMS of F0 differences in Hz and in cents
        (1200 * log2 ratio) over aligned pairs voiced in both (NaN when there is no such pair),
        and the voicing decision error: fraction of aligned pairs whose voiced flags differ (0..1).
    """
    ref, syn, sr = _prepare(ref_wav, syn_wav, sr, trim)
    _, _, ia, ib = _aligned_cepstra(ref, syn, sr, 24)
    return _f0_from_path(ref, syn, sr, ia, ib, method)
