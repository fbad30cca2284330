"""Speech synthesis from an ONNX voice export, without torch.

:class:`OnnxVoice` runs the two graphs of :mod:`speech.export.voice` with the step between them in
numpy, exactly as :class:`~speech.models.tts.fastspeech2.FastSpeech2` does it at inference:
predicted ``log(1 + frames)`` -> ``expm1 / speed``, clamped at 0, rounded half to even, padding
zeroed, an utterance whose phonemes all round to 0 frames given one frame on its longest phoneme;
each phoneme vector repeated by its duration; per frame its place inside the phoneme and
``log(1 + duration)`` (the ``frame_position`` features). :class:`OnnxSynthesizer` is the
:class:`~speech.runtime.synthesis.SynthesizerCore` around it: the same text front end (its neural
G2P fallback through ``g2p.onnx``), batching and joining as the torch synthesizer.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech.runtime.features import FrameRate
from speech.runtime.format import ExportFormatError, OnnxExport, read_export, session
from speech.runtime.g2p import OnnxG2P, RuntimeG2P
from speech.runtime.synthesis import SynthesizerCore, check_synthesis_setting, mel_contrast
from speech.runtime.vocoder import open_vocoder
from speech.text.phonemes import PhonemeTokenizer

__all__ = ["OnnxSynthesizer", "OnnxVoice", "regulate", "round_durations"]


def round_durations(log_duration: np.ndarray, lens: np.ndarray, speed: float) -> np.ndarray:
    """(B, L) predicted log(1 + frames) -> (B, L) int64 frames (see the module docstring)."""
    mask = np.arange(log_duration.shape[1])[None, :] < lens[:, None]
    frames = np.maximum(np.expm1(log_duration.astype(np.float32)) / np.float32(speed), np.float32(0.0))
    durations = np.round(frames).astype(np.int64) * mask
    empty = (durations.sum(1) == 0) & (lens > 0)
    for b in np.flatnonzero(empty):
        durations[b, int(np.where(mask[b], frames[b], -1.0).argmax())] = 1
    return durations


def regulate(hidden: np.ndarray, durations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repeat each phoneme vector by its duration: (B, L, H), (B, L) -> frames (B, T, H) zero-padded,
    positions (B, T, 2) (relative place in the phoneme, log(1 + duration); zero on padding), mel_lens (B,)."""
    b, _, h = hidden.shape
    mel_lens = durations.sum(1).astype(np.int64)
    t = int(mel_lens.max()) if b else 0
    frames = np.zeros((b, t, h), np.float32)
    positions = np.zeros((b, t, 2), np.float32)
    for i in range(b):
        n = int(mel_lens[i])
        if n == 0:
            continue
        index = np.repeat(np.arange(durations.shape[1]), durations[i])
        frames[i, :n] = hidden[i, index]
        dur = np.maximum(durations[i, index].astype(np.float32), np.float32(1.0))
        start = np.cumsum(durations[i])[index].astype(np.float32) - dur
        positions[i, :n, 0] = (np.arange(n, dtype=np.float32) - start + np.float32(0.5)) / dur
        positions[i, :n, 1] = np.log1p(dur)
    return frames, positions, mel_lens


class OnnxVoice:
    """The acoustic model of a voice export: phoneme ids -> log-mel, durations, pitch."""

    def __init__(self, folder: Path, meta: dict, threads: int | None = None):
        graphs = meta["graphs"]
        self.folder = Path(folder)
        self.settings = meta.get("voice") or {}
        self.encoder = session(self.folder / graphs["encoder"], threads)
        self.decoder = session(self.folder / graphs["decoder"], threads)
        self.inputs = {i.name for i in self.encoder.get_inputs()}
        self.max_frames = int(self.settings.get("max_frames", 4000))
        g2p = meta.get("g2p")
        self.g2p = OnnxG2P(self.folder / graphs["g2p"], g2p, threads) if g2p and "g2p" in graphs else None

    def acoustic(self, ids: list[list[int]], speaker: int | None = None, speed: float = 1.0, pitch_shift: float = 0.0,
                 energy_scale: float = 1.0, durations: list[np.ndarray] | None = None) -> list[dict]:
        """Pieces of ids -> per piece ``{"mel" (T, n_mels), "durations" (L,), "pitch" (L,) normalized}``;
        ``durations`` (one array per piece) replaces the predicted ones (parity checks)."""
        lens = np.array([len(q) for q in ids], np.int64)
        x = np.zeros((len(ids), int(lens.max())), np.int64)
        for i, q in enumerate(ids):
            x[i, :len(q)] = q
        feed = {"phonemes": x, "phoneme_lens": lens, "pitch_shift": np.array(pitch_shift, np.float32),
                "energy_scale": np.array(energy_scale, np.float32)}
        if "speakers" in self.inputs:
            feed["speakers"] = np.full(len(ids), speaker or 0, np.int64)
        hidden, log_duration, pitch, _ = self.encoder.run(None, feed)
        if durations is None:
            dur = round_durations(log_duration, lens, speed)
        else:
            dur = np.zeros(x.shape, np.int64)
            for i, d in enumerate(durations):
                dur[i, :len(d)] = d
        total = int(dur.sum(1).max())
        if total > self.max_frames:
            raise ValueError(f"an utterance needs {total} frames, more than max_frames={self.max_frames} "
                             "(durations too long: check the speed control)")
        frames, positions, mel_lens = regulate(hidden, dur)
        mel = self.decoder.run(None, {"frames": frames, "positions": positions, "mel_lens": mel_lens})[0] \
            if frames.shape[1] else np.zeros((len(ids), 0, int(self.settings.get("n_mels", 80))), np.float32)
        return [{"mel": mel[i, :int(mel_lens[i])], "durations": dur[i, :lens[i]], "pitch": pitch[i, :lens[i]]}
                for i in range(len(ids))]


class OnnxSynthesizer(FrameRate, SynthesizerCore):
    """Synthesize speech with an ONNX voice export (``speech export VOICE --format onnx -o DIR``).

    Args:
        export: the export folder (a torch voice package is refused with a one-line message saying
            how to export it).
        vocoder: ``"griffin-lim"`` (the export's settings, ``gl_iters`` iterations) or an ONNX vocoder
            export folder (a HiFi-GAN exported with ``speech export``).
        threads: onnxruntime intra-op threads (None: its default).
    """

    def __init__(self, export: str | os.PathLike, vocoder: str = "griffin-lim", threads: int | None = None,
                 gl_iters: int | None = None, max_tokens: int = 250, batch_size: int = 8):
        exp: OnnxExport = read_export(export, "tts")
        meta = exp.meta
        for key in ("features", "voice"):
            if not isinstance(meta.get(key), dict):
                raise ExportFormatError(f"{exp.path / 'meta.json'}: {key}: expected an object (export the voice again)")
        self.export = exp
        self.fb = meta["features"]
        self.voice = OnnxVoice(exp.path, meta, threads)
        settings = self.voice.settings
        try:
            stats = json.loads(exp.file(settings.get("stats", "stats.json")).read_text(encoding="utf-8"))
            self.stats = {k: float(stats[k]) for k in ("pitch_mean", "pitch_std")}
        except (KeyError, TypeError, ValueError) as e:
            raise ExportFormatError(f"{exp.path / 'stats.json'}: malformed ({type(e).__name__}); expected "
                                    "pitch_mean and pitch_std") from None
        tokenizer = PhonemeTokenizer.load(exp.file(settings.get("tokenizer", "tokenizer.json")))
        try:  # absent from exports made before it existed: off
            self.mel_contrast = check_synthesis_setting("mel_contrast", settings.get("mel_contrast", 1.0),
                                                        f"{exp.path / 'meta.json'}: voice.mel_contrast")
        except ValueError as e:
            raise ExportFormatError(str(e)) from None
        self.vocoder = open_vocoder(vocoder, self.fb, meta.get("vocoder") or {}, threads=threads, gl_iters=gl_iters)
        super().__init__(tokenizer, RuntimeG2P(self.voice.g2p), max_tokens, batch_size)

    @property
    def n_speakers(self) -> int:
        return int(self.voice.settings.get("n_speakers", 1) or 1)

    @property
    def voice_name(self) -> str:
        name = self.voice.settings.get("name")
        return str(name) if isinstance(name, str) and name else str(self.export.path)

    @property
    def pitch_std(self) -> float:
        return self.stats["pitch_std"]

    def _batch(self, ids: list[list[int]], speaker: int | None, speed: float, pitch_shift: float,
               energy_scale: float) -> list[dict]:
        outs = self.voice.acoustic(ids, speaker, speed, pitch_shift, energy_scale)
        if self.mel_contrast != 1.0:
            for o in outs:
                o["mel"] = mel_contrast(o["mel"], self.mel_contrast)
        t = max(o["mel"].shape[0] for o in outs)
        mels = np.zeros((len(outs), t, int(self.fb["n_mels"])), np.float32)
        for i, o in enumerate(outs):
            mels[i, :o["mel"].shape[0]] = o["mel"]
        lens = np.array([o["mel"].shape[0] for o in outs], np.int64)
        wav = self.vocoder(mels, lens)
        mean, std = self.stats["pitch_mean"], self.stats["pitch_std"]
        return [{"mel": o["mel"], "wav": wav[i, :self.num_samples(int(lens[i]))], "durations": o["durations"],
                 "f0_hz": np.exp((o["pitch"] + pitch_shift) * std + mean).astype(np.float32)}
                for i, o in enumerate(outs)]
