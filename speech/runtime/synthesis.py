"""Text -> waveform, whatever runs the model: the orchestration the torch :class:`~speech.pipelines.synthesizer.Synthesizer`
and the ONNX :class:`~speech.runtime.tts.OnnxSynthesizer` share.

``SynthesizerCore.synthesize(text)``: the text is split into sentences; each sentence is normalized
and converted to phonemes (:class:`speech.text.frontend.VoiceFrontend`); a sentence longer than
``max_tokens`` phonemes is cut at its pauses (commas, ...) or, failing that, at word boundaries;
the pieces are synthesized in batches of similar length (a subclass's :meth:`SynthesizerCore._batch`:
acoustic model -> log-mel -> vocoder) and joined in order. Pauses come from the model: a sentence's
final punctuation is a pause token whose duration it predicts, so nothing is inserted between
pieces unless ``sentence_silence`` asks for extra silence after each sentence (never inside one,
never after the last).

A multi-speaker voice (``n_speakers > 1``) speaks with ``speaker`` (default 0);
:meth:`SynthesizerCore.check_speaker` says what a voice accepts. :meth:`SynthesizerCore.phonemes`
shows what the model would be given, one readable line per sentence.

What the frontend could not read (unknown characters, words guessed by the G2P fallback) is
collected in :class:`SynthesisResult` for the caller to print. Text with nothing to pronounce
(empty, only punctuation or symbols) raises ``ValueError`` with a one-line message.

Nothing here imports torch.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speech.text.frontend import VoiceFrontend, frontend_warnings, nothing_to_say
from speech.text.phonemes import PAUSES, WB, PhonemeTokenizer

__all__ = ["SynthesisResult", "SynthesizerCore", "check_controls", "mel_contrast", "plot_synthesis",
           "semitones_to_normalized", "synthesis_defaults"]

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
    """A synthesized text: float32 mono audio at ``sample_rate`` (:attr:`wav`, joined from
    :attr:`wav_parts` on first use) and its log-mel; per piece (sentence or part of one): its text,
    tokens, frame durations per token and predicted F0 (Hz) per token.

    The audio is kept as the pieces and silences it is made of, in order, until someone asks for
    the whole array: a job that writes a file writes the parts one after another
    (:mod:`speech.runtime.synthesis_batch`), so a long text never holds a joined copy beside them."""

    wav_parts: list[np.ndarray]
    """The audio in order: each piece's samples, and the silence after a sentence (``sentence_silence``)."""
    sample_rate: int
    mel_parts: list[np.ndarray]
    """(T_i, n_mels) log-mel of the same parts."""
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
    def wav(self) -> np.ndarray:
        """The whole waveform, float32 ``(N,)``: the parts joined once (and then kept as the only part)."""
        self.wav_parts = [_joined(self.wav_parts, (0,))]
        return self.wav_parts[0]

    @property
    def mel(self) -> np.ndarray:
        """``(T, n_mels)`` log-mel of all pieces, concatenated (with the silence between sentences)."""
        n_mels = self.mel_parts[0].shape[1] if self.mel_parts else 0
        self.mel_parts = [_joined(self.mel_parts, (0, n_mels))]
        return self.mel_parts[0]

    @property
    def duration(self) -> float:
        return sum(len(w) for w in self.wav_parts) / self.sample_rate

    @property
    def warnings(self) -> list[str]:
        """One line per kind of text the frontend could not read well (skipped characters, guessed
        words, sentences with nothing to pronounce); empty when it read everything."""
        return frontend_warnings(self.unknown, self.guessed, self.skipped)

    @property
    def rtf(self) -> float:
        return self.seconds / max(self.duration, 1e-9)


def _joined(parts: list[np.ndarray], empty_shape: tuple[int, ...]) -> np.ndarray:
    """``parts`` as one float32 array (a lone float32 part as it is, no copy)."""
    if len(parts) == 1 and parts[0].dtype == np.float32:
        return parts[0]
    return np.concatenate(parts, dtype=np.float32) if parts else np.zeros(empty_shape, np.float32)


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


MEL_CONTRAST_RANGE = (0.5, 2.0)
GRIFFIN_LIM_POWER_RANGE = (0.5, 3.0)
SYNTHESIS_DEFAULTS = {"mel_contrast": 1.0, "griffin_lim_power": 1.0}
"""What a voice package's ``meta.json`` ``synthesis`` object may set, and the values without it."""


def mel_contrast(mel: np.ndarray, contrast: float) -> np.ndarray:
    """Undo part of an acoustic model's over-smoothing: every mel band's deviation from its own mean
    over the utterance is scaled by ``contrast`` (1 = unchanged), the mean is kept.

    A model trained with an L1/L2 mel loss predicts the average of what it could have said, so its
    mels vary less over time than a recording's (the "global variance" loss of statistical parametric
    synthesis); scaling the variation back up makes formants and onsets sharper. ``mel``: (T, n_mels)
    log-mel of one utterance (no padding); returns a new float32 array.
    """
    m = np.asarray(mel, dtype=np.float32)
    if contrast == 1.0 or m.shape[0] == 0:
        return m.copy()
    mu = m.mean(axis=0, keepdims=True)
    return (mu + np.float32(contrast) * (m - mu)).astype(np.float32)


def synthesis_defaults(meta: object, where: str) -> dict[str, float]:
    """A voice's synthesis post-processing settings: :data:`SYNTHESIS_DEFAULTS` updated with the
    ``synthesis`` object of its metadata (``meta``; ``where`` names the file for messages).

    Raises:
        ValueError: one line naming the file and key when the object or a value is malformed.
    """
    out = dict(SYNTHESIS_DEFAULTS)
    given = meta.get("synthesis") if isinstance(meta, dict) else None
    if given is None:
        return out
    if not isinstance(given, dict):
        raise ValueError(f"{where}: synthesis: expected an object like {SYNTHESIS_DEFAULTS}")
    for key, value in given.items():
        if key not in _SETTING_RANGES:
            raise ValueError(f"{where}: synthesis.{key}: unknown setting; expected {', '.join(_SETTING_RANGES)}")
        out[key] = check_synthesis_setting(key, value, f"{where}: synthesis.{key}")
    return out


_SETTING_RANGES = {"mel_contrast": MEL_CONTRAST_RANGE, "griffin_lim_power": GRIFFIN_LIM_POWER_RANGE}


def check_synthesis_setting(key: str, value: object, label: str) -> float:
    """``value`` as a float when it is a number within ``key``'s range; else ValueError starting with ``label``."""
    lo, hi = _SETTING_RANGES[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= float(value) <= hi:
        raise ValueError(f"{label}: {value!r}; expected a number in [{lo}, {hi}]")
    return float(value)


def semitones_to_normalized(semitones: float, log_f0_std: float) -> float:
    """A pitch shift in semitones in the model's normalized pitch units: ``s * ln(2) / (12 * std)``
    (the one formula :func:`speech.models.tts.fastspeech2.semitones_to_normalized` documents)."""
    if log_f0_std <= 0:
        raise ValueError(f"log_f0_std must be > 0, got {log_f0_std}")
    return float(semitones) * math.log(2.0) / (12.0 * float(log_f0_std))


class SynthesizerCore:
    """The text side, batching and joining of synthesis; subclasses run the model (:meth:`_batch`).

    Args:
        tokenizer: the voice's phoneme tokenizer.
        g2p: a :class:`speech.text.g2p.G2P` (its dictionary is loaded now, not inside the first timed synthesis).
        max_tokens: longest piece (phoneme tokens) given to the model at once.
        batch_size: pieces per model / vocoder batch.
    """

    def __init__(self, tokenizer: PhonemeTokenizer, g2p, max_tokens: int = 250, batch_size: int = 8):
        self.max_tokens = int(max_tokens)
        self.batch_size = int(batch_size)
        if self.max_tokens < 8 or self.batch_size < 1:
            raise ValueError(f"max_tokens must be >= 8 and batch_size >= 1, got {max_tokens}, {batch_size}")
        self.tokenizer = tokenizer
        self.g2p = g2p
        self.g2p.convert("warm up")
        self.text_frontend = VoiceFrontend(tokenizer, g2p)

    # -- what a subclass provides --------------------------------------------------------------

    sample_rate: int
    """Sample rate (Hz) of the output."""
    hop_length: int
    """Output samples per mel frame."""

    @property
    def n_speakers(self) -> int:
        """Speakers the voice can speak as (ids ``0 .. n_speakers - 1``)."""
        return 1

    @property
    def voice_name(self) -> str:
        """The bundled voice's name, or its folder, for messages."""
        return "voice"

    @property
    def pitch_std(self) -> float:
        """Standard deviation of the training set's log-F0 (converts semitones to the model's units)."""
        raise NotImplementedError

    def _batch(self, ids: list[list[int]], speaker: int | None, speed: float, pitch_shift: float,
               energy_scale: float) -> list[dict]:
        """Synthesize pieces of phoneme ids (``pitch_shift`` in normalized units, ``speaker`` None for a
        one-speaker voice) -> per piece ``{"mel": (T, n_mels), "wav": (T * hop,), "durations": (L,),
        "f0_hz": (L,)}`` as numpy arrays."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------

    @property
    def hop_seconds(self) -> float:
        return self.hop_length / self.sample_rate

    def num_samples(self, frames: int) -> int:
        return int(frames) * self.hop_length

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

    def frontend(self, text: str) -> tuple[list[dict], list[str], list[tuple[str, str]], list[str]]:
        """Text -> pieces ``{"text", "sentence", "ids"}`` (each ending in ``<eos>``; ``sentence`` is
        the index of the sentence it belongs to), unknown chars, guessed words, skipped sentences."""
        sentences, unknown, guessed, skipped = self.text_frontend.sentences(text)
        eos, pieces = self.tokenizer.eos_id, []
        for k, (sentence, ids, syms) in enumerate(sentences):
            for a, b in _split_long(ids, syms, self.max_tokens - 1):
                if any(s not in PAUSES and s != WB for s in syms[a:b]):
                    pieces.append({"text": sentence, "sentence": k, "ids": ids[a:b] + [eos]})
        return pieces, unknown, guessed, skipped

    def phonemes(self, text: str) -> tuple[list[str], list[str]]:
        """:meth:`speech.text.frontend.VoiceFrontend.phonemes` with this voice's tokenizer."""
        return self.text_frontend.phonemes(text)

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
        shift = semitones_to_normalized(pitch_shift, self.pitch_std) if pitch_shift else 0.0
        spk = speaker if self.n_speakers > 1 else None
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]["ids"]))
        mels: list = [None] * len(pieces)
        wavs: list = [None] * len(pieces)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            outs = self._batch([pieces[i]["ids"] for i in idx], spk, speed, shift, energy_scale)
            for i, out in zip(idx, outs):
                mels[i], wavs[i] = out["mel"], out["wav"]
                pieces[i]["tokens"] = self.tokenizer.decode(pieces[i]["ids"])
                pieces[i]["durations"] = out["durations"]
                pieces[i]["f0_hz"] = out["f0_hz"]
        gap = round(sentence_silence * self.sample_rate / self.hop_length)
        if gap > 0:
            floor = min((float(m.min()) for m in mels if m.size), default=0.0)  # silence in the plot
            silence_wav = np.zeros(self.num_samples(gap), np.float32)
            silence_mel = np.full((gap, mels[0].shape[1]), floor, np.float32)
            wav_parts, mel_parts = [], []
            for i in range(len(pieces)):
                wav_parts.append(wavs[i])
                mel_parts.append(mels[i])
                if i + 1 < len(pieces) and pieces[i + 1]["sentence"] != pieces[i]["sentence"]:
                    pieces[i]["silence_frames"] = gap
                    wav_parts.append(silence_wav)
                    mel_parts.append(silence_mel)
            wavs, mels = wav_parts, mel_parts
        # The parts as they are: joined only if someone asks for the whole array (a file is written part by part).
        return SynthesisResult(wavs, self.sample_rate, mels, pieces, unknown, guessed, skipped,
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
