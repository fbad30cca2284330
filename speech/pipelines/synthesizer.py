"""Text -> waveform with a voice package and a vocoder.

``Synthesizer.synthesize(text)``: the text is split into sentences; each sentence is normalized and
converted to phonemes (:func:`speech.text.frontend.text_to_ids`); a sentence longer than
``max_tokens`` phonemes is cut at its pauses (commas, ...) or, failing that, at word boundaries;
the pieces are synthesized in batches (acoustic model -> log-mel -> vocoder) and joined in order.
Pauses come from the model: a sentence's final punctuation is a pause token whose duration it
predicts, so nothing is inserted between pieces unless ``sentence_silence`` asks for extra silence
after each sentence (never inside one, never after the last).

A multi-speaker voice (``n_speakers > 1``) speaks with ``speaker`` (default 0);
:meth:`Synthesizer.check_speaker` says what a voice accepts. :meth:`Synthesizer.phonemes` shows
what the model would be given, one readable line per sentence (:func:`speech.text.frontend.phoneme_string`).

What the frontend could not read (unknown characters, words guessed by the G2P fallback) is
collected in :class:`SynthesisResult` for the caller to print. Text with nothing to pronounce
(empty, only punctuation or symbols) raises ``ValueError`` with a one-line message.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from speech.models.tts.fastspeech2 import semitones_to_normalized
from speech.models.vocoders.base import Vocoder
from speech.packages.vocoder import load_vocoder
from speech.packages.voice import TtsPackage, load_tts_package
from speech.text.frontend import VoiceFrontend, frontend_warnings, nothing_to_say
from speech.text.g2p import default_g2p
from speech.text.phonemes import PAUSES, WB

__all__ = ["SynthesisResult", "Synthesizer", "check_controls", "plot_synthesis"]

SPEED_RANGE = (0.25, 4.0)
PITCH_SHIFT_RANGE = (-24.0, 24.0)
ENERGY_SCALE_MAX = 4.0
SENTENCE_SILENCE_MAX = 60.0

def _keyword(name: str, value) -> str:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"{name}={value:g}" if number else f"{name}={value!r}"


def check_controls(speed: float = 1.0, pitch_shift: float = 0.0, energy_scale: float = 1.0,
                   label: Callable[[str, float], str] = _keyword, sentence_silence: float = 0.0) -> None:
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
    if not (math.isfinite(sentence_silence) and 0.0 <= sentence_silence <= SENTENCE_SILENCE_MAX):
        raise ValueError(f"{label('sentence_silence', sentence_silence)}: expected seconds in "
                         f"[0, {SENTENCE_SILENCE_MAX:g}]")


@dataclass
class SynthesisResult:
    """A synthesized text. ``wav`` float32 mono at ``sample_rate``; per piece (sentence or part of one):
    its text, tokens, frame durations per token and predicted F0 (Hz) per token."""

    wav: np.ndarray
    sample_rate: int
    mel: np.ndarray
    """(T, n_mels) log-mel of all pieces, concatenated (with the silence between sentences)."""
    pieces: list[dict] = field(default_factory=list)
    """Per piece: ``text`` (its sentence), ``sentence`` (index), ``ids``, ``tokens``, ``durations``,
    ``f0_hz``, and ``silence_frames`` added after it (``sentence_silence``)."""
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
        return frontend_warnings(self.unknown, self.guessed, self.skipped)

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
        self.text_frontend = VoiceFrontend(self.package.tokenizer, self.g2p)
        self.max_tokens = int(max_tokens)
        self.batch_size = int(batch_size)
        if self.max_tokens < 8 or self.batch_size < 1:
            raise ValueError(f"max_tokens must be >= 8 and batch_size >= 1, got {max_tokens}, {batch_size}")

    @property
    def sample_rate(self) -> int:
        return self.package.sample_rate

    @property
    def n_speakers(self) -> int:
        """Speakers the voice can speak as (ids ``0 .. n_speakers - 1``)."""
        cfg = getattr(self.package.model, "cfg", None)
        return int(getattr(cfg, "n_speakers", 1) or 1)

    @property
    def voice_name(self) -> str:
        """The bundled voice's name, or the package folder, for messages."""
        bundled = self.package.meta.get("bundled") if isinstance(self.package.meta, dict) else None
        name = bundled.get("name") if isinstance(bundled, dict) else None
        return str(name) if isinstance(name, str) and name else str(self.package.path)

    def check_speaker(self, speaker: int | None, label: Callable[[str, object], str] = _keyword) -> int:
        """The speaker id to use: ``speaker``, or 0 when None.

        Raises:
            ValueError: one line, e.g. ``speaker=3: voice 'kathleen' has 1 speaker (ids 0-0)``.
        """
        if speaker is None:
            return 0
        n = self.n_speakers
        if isinstance(speaker, bool) or not isinstance(speaker, int) or not 0 <= speaker < n:
            raise ValueError(f"{label('speaker', speaker)}: voice '{self.voice_name}' has {n} speaker"
                             f"{'' if n == 1 else 's'} (ids 0-{n - 1})")
        return speaker

    def _sentences(self, text: str):
        return self.text_frontend.sentences(text)

    def frontend(self, text: str) -> tuple[list[dict], list[str], list[tuple[str, str]], list[str]]:
        """Text -> pieces ``{"text", "sentence", "ids"}`` (each ending in ``<eos>``; ``sentence`` is
        the index of the sentence it belongs to), unknown chars, guessed words, skipped sentences."""
        sentences, unknown, guessed, skipped = self._sentences(text)
        eos, pieces = self.package.tokenizer.eos_id, []
        for k, (sentence, ids, syms) in enumerate(sentences):
            for a, b in _split_long(ids, syms, self.max_tokens - 1):
                if any(s not in PAUSES and s != WB for s in syms[a:b]):
                    pieces.append({"text": sentence, "sentence": k, "ids": ids[a:b] + [eos]})
        return pieces, unknown, guessed, skipped

    def phonemes(self, text: str) -> tuple[list[str], list[str]]:
        """:meth:`speech.text.frontend.VoiceFrontend.phonemes` with this voice's tokenizer."""
        return self.text_frontend.phonemes(text)

    @torch.inference_mode()
    def synthesize(self, text: str, speed: float = 1.0, pitch_shift: float = 0.0, energy_scale: float = 1.0,
                   speaker: int | None = None, sentence_silence: float = 0.0) -> SynthesisResult:
        """Synthesize ``text`` (any length). ``speed`` > 1 speaks faster (durations / speed),
        ``pitch_shift`` in semitones, ``energy_scale`` multiplies the normalized energy, ``speaker``
        picks a speaker of a multi-speaker voice (default 0), ``sentence_silence`` seconds of
        silence go after each sentence but the last (rounded to whole mel frames)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        check_controls(speed, pitch_shift, energy_scale, sentence_silence=sentence_silence)
        speaker = self.check_speaker(speaker)
        t0 = time.perf_counter()
        pieces, unknown, guessed, skipped = self.frontend(text)
        if not pieces:
            raise ValueError(nothing_to_say(unknown))
        pkg = self.package
        spk = torch.tensor([speaker], dtype=torch.long) if self.n_speakers > 1 else None
        shift = semitones_to_normalized(pitch_shift, pkg.stats.pitch_std) if pitch_shift else 0.0
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]["ids"]))
        mels: list[torch.Tensor | None] = [None] * len(pieces)
        wavs: list[np.ndarray | None] = [None] * len(pieces)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            seqs = [torch.tensor(pieces[i]["ids"], dtype=torch.long) for i in idx]
            lens = torch.tensor([len(q) for q in seqs], device=self.device)
            ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True).to(self.device)
            speakers = spk.expand(len(idx)).to(self.device) if spk is not None else None
            out = pkg.model(ids, lens, speakers=speakers, speed=speed, pitch_shift=shift, energy_scale=energy_scale)
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
        gap = round(sentence_silence * self.sample_rate / self.vocoder.hop_length)
        if gap > 0:
            floor = min((float(m.min()) for m in mels if m.numel()), default=0.0)  # silence in the plot
            for i in range(len(pieces) - 1):
                if pieces[i + 1]["sentence"] != pieces[i]["sentence"]:
                    pieces[i]["silence_frames"] = gap
                    wavs[i] = np.concatenate([wavs[i], np.zeros(self.vocoder.num_samples(gap), np.float32)])
                    mels[i] = torch.cat([mels[i], torch.full((gap, mels[i].shape[1]), floor)])
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
        offset = (ends[-1] if len(ends) else offset) + piece.get("silence_frames", 0)
    ax2.set_ylabel("F0 (Hz)")
    ax2.set_xlabel("seconds")
    ax1.set_title("mel spectrogram, phoneme durations and predicted pitch", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
