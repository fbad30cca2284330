"""Text -> waveform with a voice package and a vocoder.

``Synthesizer.synthesize(text)``: the text is split into sentences; each sentence is normalized and
converted to phonemes (:func:`speech.text.frontend.text_to_ids`); a sentence longer than
``max_tokens`` phonemes is cut at its pauses (commas, ...) or, failing that, at word boundaries;
the pieces are synthesized in batches (acoustic model -> log-mel -> vocoder) and joined in order.
Pauses come from the model: every sentence ends in a pause token whose duration it predicts, so
nothing is inserted between pieces.

What the frontend could not read (unknown characters, words guessed by the G2P fallback) is
collected in :class:`SynthesisResult` for the caller to print. Text with nothing to pronounce
(empty, only punctuation or symbols) raises ``ValueError`` with a one-line message.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from speech.models.tts.fastspeech2 import semitones_to_normalized
from speech.models.vocoders.base import Vocoder
from speech.packages.vocoder import load_vocoder
from speech.packages.voice import TtsPackage, load_tts_package
from speech.text.frontend import text_to_ids
from speech.text.g2p import default_g2p
from speech.text.phonemes import PAUSES
from speech.text.tts_normalize import split_sentences

__all__ = ["SynthesisResult", "Synthesizer", "check_controls", "plot_synthesis"]

SPEED_RANGE = (0.25, 4.0)
PITCH_SHIFT_RANGE = (-24.0, 24.0)
ENERGY_SCALE_MAX = 4.0


def _keyword(name: str, value: float) -> str:
    return f"{name}={value:g}"


def check_controls(speed: float = 1.0, pitch_shift: float = 0.0, energy_scale: float = 1.0,
                   label: Callable[[str, float], str] = _keyword) -> None:
    """The ranges of the prosody controls of :meth:`Synthesizer.synthesize` (the one place they are checked).

    ``label(name, value)`` says how a message names a value: ``speed=0`` by default; a command line
    passes its option names (``--speed 0``) so that a bad value can be refused before any loading.

    Raises:
        ValueError: one line, e.g. ``speed=0: expected a value in [0.25, 4]``.
    """
    if not (math.isfinite(speed) and SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]):
        raise ValueError(f"{label('speed', speed)}: expected a value in [{SPEED_RANGE[0]:g}, {SPEED_RANGE[1]:g}]")
    if not PITCH_SHIFT_RANGE[0] <= pitch_shift <= PITCH_SHIFT_RANGE[1]:
        raise ValueError(f"{label('pitch_shift', pitch_shift)}: expected semitones in "
                         f"[{PITCH_SHIFT_RANGE[0]:g}, {PITCH_SHIFT_RANGE[1]:g}]")
    if not 0.0 < energy_scale <= ENERGY_SCALE_MAX:
        raise ValueError(f"{label('energy_scale', energy_scale)}: expected a value in (0, {ENERGY_SCALE_MAX:g}]")


@dataclass
class SynthesisResult:
    """A synthesized text. ``wav`` float32 mono at ``sample_rate``; per piece (sentence or part of one):
    its text, tokens, frame durations per token and predicted F0 (Hz) per token."""

    wav: np.ndarray
    sample_rate: int
    mel: np.ndarray
    """(T, n_mels) log-mel of all pieces, concatenated."""
    pieces: list[dict] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """Input characters that could not be read (skipped)."""
    guessed: list[tuple[str, str]] = field(default_factory=list)
    """(word, source) of words not in the dictionary, pronounced by the G2P fallback."""
    skipped: list[str] = field(default_factory=list)
    """Sentences with nothing to pronounce."""
    seconds: float = 0.0
    """Wall-clock synthesis time (frontend + model + vocoder)."""

    @property
    def duration(self) -> float:
        return len(self.wav) / self.sample_rate

    @property
    def warnings(self) -> list[str]:
        """One line per kind of text the frontend could not read well (skipped characters, guessed
        words, sentences with nothing to pronounce); empty when it read everything."""
        out = []
        if self.unknown:
            out.append(f"could not pronounce (skipped): {' '.join(self.unknown)}")
        if self.guessed:
            out.append(f"not in the dictionary, guessed: {', '.join(w for w, _ in self.guessed)}")
        if self.skipped:
            out.append(f"{len(self.skipped)} sentence(s) with nothing to pronounce skipped: "
                       + " | ".join(s[:40] for s in self.skipped[:5]))
        return out

    @property
    def rtf(self) -> float:
        return self.seconds / max(self.duration, 1e-9)


def _split_long(tokens: list[int], syms: list[str], max_tokens: int) -> list[tuple[int, int]]:
    """Spans ``[a, b)`` of at most ``max_tokens`` tokens, cut after pause tokens when possible,
    else after word boundaries, else anywhere."""
    spans, a, n = [], 0, len(tokens)
    while n - a > max_tokens:
        window = range(a + max_tokens - 1, a, -1)
        cut = next((i + 1 for i in window if syms[i] in PAUSES), None)
        if cut is None:
            cut = next((i + 1 for i in window if syms[i] == "<wb>"), a + max_tokens)
        spans.append((a, cut))
        a = cut
    spans.append((a, n))
    return spans


class Synthesizer:
    """Synthesize speech with a voice package.

    Args:
        package: a :class:`TtsPackage` or the path of one.
        vocoder: ``"griffin-lim"``, a vocoder package folder (loaded onto ``device``) or a
            :class:`Vocoder` (its mel config must match the package's).
        device: torch device for the acoustic model and vocoder.
        max_tokens: longest piece (phoneme tokens) given to the model at once.
        batch_size: pieces per model / vocoder batch.
    """

    def __init__(self, package: TtsPackage | str | Path, vocoder: str | Vocoder = "griffin-lim",
                 device: str = "cpu", g2p=None, max_tokens: int = 250, batch_size: int = 8):
        self.package = package if isinstance(package, TtsPackage) else load_tts_package(package, device)
        self.device = torch.device(device)
        self.vocoder = vocoder if isinstance(vocoder, Vocoder) else load_vocoder(vocoder, self.package.fbank,
                                                                                 device=device)
        self.vocoder.check_compatible(self.package.fbank)
        self.g2p = g2p or default_g2p()
        self.g2p.convert("warm up")  # loads the dictionary now, not inside the first timed synthesis
        self.max_tokens = int(max_tokens)
        self.batch_size = int(batch_size)
        if self.max_tokens < 8 or self.batch_size < 1:
            raise ValueError(f"max_tokens must be >= 8 and batch_size >= 1, got {max_tokens}, {batch_size}")

    @property
    def sample_rate(self) -> int:
        return self.package.sample_rate

    def frontend(self, text: str) -> tuple[list[dict], list[str], list[tuple[str, str]], list[str]]:
        """Text -> pieces ``{"text", "ids"}`` (each ending in ``<eos>``), unknown chars, guessed
        words, skipped sentences."""
        tok = self.package.tokenizer
        pieces, unknown, guessed, skipped = [], [], [], []
        for sentence in split_sentences(text):
            ids, info = text_to_ids(sentence, g2p=self.g2p, tokenizer=tok, add_eos=False)
            unknown += [c for _, c in info.unknown if c not in unknown]
            guessed += [g for g in info.guessed if g not in guessed]
            syms = tok.decode(ids)
            if not any(s not in PAUSES and s != "<wb>" for s in syms):
                skipped.append(sentence)
                continue
            for a, b in _split_long(ids, syms, self.max_tokens - 1):
                part = [s for s in syms[a:b] if s != "<wb>"]
                if any(s not in PAUSES for s in part):
                    pieces.append({"text": sentence, "ids": ids[a:b] + [tok.eos_id]})
        return pieces, unknown, guessed, skipped

    @torch.inference_mode()
    def synthesize(self, text: str, speed: float = 1.0, pitch_shift: float = 0.0,
                   energy_scale: float = 1.0) -> SynthesisResult:
        """Synthesize ``text`` (any length). ``speed`` > 1 speaks faster (durations / speed),
        ``pitch_shift`` in semitones, ``energy_scale`` multiplies the normalized energy."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        check_controls(speed, pitch_shift, energy_scale)
        t0 = time.perf_counter()
        pieces, unknown, guessed, skipped = self.frontend(text)
        if not pieces:
            raise ValueError("nothing to synthesize: the text has no pronounceable words"
                             + (f" (unreadable characters: {' '.join(unknown[:10])})" if unknown else ""))
        pkg = self.package
        shift = semitones_to_normalized(pitch_shift, pkg.stats.pitch_std) if pitch_shift else 0.0
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]["ids"]))
        mels: list[torch.Tensor | None] = [None] * len(pieces)
        wavs: list[np.ndarray | None] = [None] * len(pieces)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            seqs = [torch.tensor(pieces[i]["ids"], dtype=torch.long) for i in idx]
            lens = torch.tensor([len(q) for q in seqs], device=self.device)
            ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True).to(self.device)
            out = pkg.model(ids, lens, speed=speed, pitch_shift=shift, energy_scale=energy_scale)
            mel = out.mel_postnet if out.mel_postnet is not None else out.mel
            mel = mel * pkg.mel_std + pkg.mel_mean
            wav = self.vocoder(mel, out.mel_lens)
            pitch_hz = torch.exp(pkg.stats.denormalize("pitch", out.pitch_pred + shift))
            for j, i in enumerate(idx):
                n = int(out.mel_lens[j])
                mels[i] = mel[j, :n].float().cpu()
                wavs[i] = wav[j, : self.vocoder.num_samples(n)].float().cpu().numpy()
                L = int(lens[j])
                pieces[i]["tokens"] = pkg.tokenizer.decode(pieces[i]["ids"])
                pieces[i]["durations"] = out.durations_used[j, :L].cpu().numpy()
                pieces[i]["f0_hz"] = pitch_hz[j, :L].float().cpu().numpy()
        full = np.concatenate(wavs).astype(np.float32)
        mel_all = torch.cat(mels).numpy()
        return SynthesisResult(full, self.sample_rate, mel_all, pieces, unknown, guessed, skipped,
                               time.perf_counter() - t0)


def plot_synthesis(result: SynthesisResult, path: str | Path, hop_seconds: float) -> Path:
    """PNG with the mel spectrogram, the token durations (boundaries and labels) and the pitch contour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel = result.mel
    total = mel.shape[0] * hop_seconds
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8.0, min(40.0, total * 2.5)), 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1.3]})
    ax1.imshow(mel.T, origin="lower", aspect="auto", cmap="magma", extent=(0, total, 0, mel.shape[1]))
    ax1.set_ylabel("mel band")
    offset = 0
    for piece in result.pieces:
        ends = offset + np.cumsum(piece["durations"])
        starts = ends - piece["durations"]
        times, f0 = [], []
        for sym, a, e, hz in zip(piece["tokens"], starts, ends, piece["f0_hz"]):
            if e == a:
                continue
            ax1.axvline(a * hop_seconds, color="white", lw=0.4, alpha=0.6)
            if total < 30:
                ax1.text((a + e) / 2 * hop_seconds, mel.shape[1] * 0.93, sym.strip("<>"), color="white",
                         ha="center", fontsize=6, rotation=90)
            if sym not in PAUSES and sym != "<eos>":
                times += [a * hop_seconds, e * hop_seconds]
                f0 += [hz, hz]
            else:
                times.append(np.nan)
                f0.append(np.nan)
        ax2.plot(times, f0, color="tab:blue")
        offset = ends[-1] if len(ends) else offset
    ax2.set_ylabel("F0 (Hz)")
    ax2.set_xlabel("seconds")
    ax1.set_title("mel spectrogram, phoneme durations and predicted pitch", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
