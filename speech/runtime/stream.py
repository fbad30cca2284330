"""Streaming recognition: audio in chunks of any size -> partial texts as it arrives -> the final text.

A unidirectional recognizer (``model.asr.bidirectional=false``) sees only the past, so its output
for a frame does not change when more audio arrives; carrying the LSTM states from one chunk to the
next gives the log-probabilities of offline decoding of the whole signal. The pieces, all numpy:

- :class:`LogMelStream`: samples -> log-mel frames, exactly the frames
  :func:`speech.runtime.features.log_mel` gives for the whole signal (pre-emphasis carried across
  chunks; a frame is made once its window is complete; a signal shorter than one window gives one
  zero-padded frame at :meth:`~LogMelStream.finish`).
- :class:`FrameStacker`: frames -> groups of ``stack_frames`` frames (the model's first layer input);
  the last, partial group is padded at the end and marked so that its padding is zero after CMVN,
  as offline frame stacking pads it.
- :class:`LoudnessTracker`: the loudest-frame test the offline Transcriber applies to a whole file
  (silence gives an empty transcript, not letters made of noise), kept up to date chunk by chunk.
- :class:`StreamRecognizer`: ties them together around a model step (``_forward``); partial text =
  greedy CTC of the frames emitted so far, final text = the offline decoding (the package's or
  export's recommended decoding, e.g. beam + LM) of all log-probs. :class:`OnnxStreamRecognizer`
  runs the ``stream`` graph of an ONNX export; speech.pipelines.streaming runs a torch package.

The model step's contract (graph ``stream``, see speech.export.stream)::

    x (1, T, stack_frames * n_mels) raw log-mel, grouped; keep (1, T, stack_frames * n_mels) 1 / 0
    h (num_layers, 1, out_size), c (num_layers, 1, hidden_size)  ->  log_probs (1, T, V), h, c
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speech.decoding.beam import BeamSearchConfig, make_decoder
from speech.decoding.greedy import GreedyCTCDecoder
from speech.runtime.asr import export_decoding
from speech.runtime.features import check_features, frames_log_mel, preemphasize
from speech.runtime.format import ExportFormatError, read_export, session
from speech.runtime.segment import SegmentConfig
from speech.runtime.transcribe import min_speech_samples, no_speech_message, too_short_message
from speech.text.tokenizer import CharTokenizer

__all__ = ["FrameStacker", "LogMelStream", "LoudnessTracker", "OnnxStreamRecognizer", "StreamFormatError",
           "StreamRecognizer", "StreamResult", "check_stream_meta", "open_onnx_stream", "pcm_chunks"]


class LogMelStream:
    """Samples in chunks of any size -> log-mel frames as soon as their windows are complete.

    ``fb``: the feature settings mapping of :mod:`speech.runtime.features`. The concatenation of
    everything :meth:`accept` and :meth:`finish` return equals ``log_mel(whole_signal, fb)``.
    """

    def __init__(self, fb: Mapping):
        self.fb = dict(fb)
        self.win, self.hop = int(fb["win_length"]), int(fb["hop_length"])
        self.coef = float(fb["preemphasis"])
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, np.float32)  # pre-emphasized samples from the next frame's start on
        self._head = np.zeros(0, np.float32)  # raw samples while fewer than one window has arrived
        self._last: float | None = None  # the last raw sample (pre-emphasis of the next chunk)
        self.samples = 0

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(N,) float samples -> (T, n_mels) float32 frames completed by them (T may be 0)."""
        x = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if len(x) == 0:
            return np.zeros((0, int(self.fb["n_mels"])), np.float32)
        if self.samples < self.win:
            self._head = np.concatenate([self._head, x[: self.win - self.samples]])
        self.samples += len(x)
        y = preemphasize(x, self.coef, self._last)
        self._last = float(x[-1])
        buf = np.concatenate([self._pending, y]) if len(self._pending) else y
        if len(buf) < self.win:
            self._pending = buf
            return np.zeros((0, int(self.fb["n_mels"])), np.float32)
        t = 1 + (len(buf) - self.win) // self.hop
        frames = frames_log_mel(np.ascontiguousarray(buf[: (t - 1) * self.hop + self.win]), self.fb)
        self._pending = buf[t * self.hop:].copy()
        return frames

    def finish(self) -> np.ndarray:
        """The frames still owed at the end: one zero-padded frame for a signal shorter than one window."""
        if 0 < self.samples < self.win:
            x = np.pad(self._head, (0, self.win - len(self._head)))
            return frames_log_mel(np.ascontiguousarray(preemphasize(x, self.coef)), self.fb)
        return np.zeros((0, int(self.fb["n_mels"])), np.float32)


class FrameStacker:
    """(T, F) frames -> (T', factor * F) groups of ``factor`` consecutive frames, and their keep mask.

    The last group of a stream is padded with zero frames whose mask is 0: the model multiplies its
    CMVN-normalized input by the mask, so the padding is 0 after CMVN, as offline frame stacking pads.
    """

    def __init__(self, factor: int, dim: int):
        self.factor, self.dim = int(factor), int(dim)
        self.reset()

    def reset(self) -> None:
        self._rest = np.zeros((0, self.dim), np.float32)

    def accept(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        buf = np.concatenate([self._rest, frames]) if len(self._rest) else np.asarray(frames, np.float32)
        n = len(buf) // self.factor
        self._rest = buf[n * self.factor:]
        x = buf[: n * self.factor].reshape(n, self.factor * self.dim)
        return x, np.ones_like(x)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """The last, partial group (zero-padded, keep 0 on the padding), or nothing; then empty."""
        rest, self._rest = self._rest, np.zeros((0, self.dim), np.float32)
        width = self.factor * self.dim
        x = np.zeros((1 if len(rest) else 0, width), np.float32)
        keep = np.zeros_like(x)
        if len(rest):
            x[0, : rest.size] = rest.reshape(-1)
            keep[0, : rest.size] = 1.0
        return x, keep


class LoudnessTracker:
    """The loudest ``frame``-sample block's energy in dB, kept over a stream: the offline rule
    (:func:`speech.runtime.segment.loudest_frame_db`: whole blocks from the start; a clip shorter
    than one block is one block) applied to everything accepted so far."""

    def __init__(self, frame: int):
        self.frame = max(1, int(frame))
        self.reset()

    def reset(self) -> None:
        self._rest = np.zeros(0, np.float32)
        self.loudest = -np.inf
        self.samples = 0

    def accept(self, x: np.ndarray) -> None:
        self.samples += len(x)
        buf = np.concatenate([self._rest, x]) if len(self._rest) else np.asarray(x, np.float32)
        n = len(buf) // self.frame
        if n:
            power = (buf[: n * self.frame].astype(np.float64).reshape(n, self.frame) ** 2).mean(axis=1)
            self.loudest = max(self.loudest, float(10 * np.log10(np.maximum(power, 1e-12)).max()))
        self._rest = buf[n * self.frame:]

    def db(self) -> float:
        """The offline value for everything accepted (-120 dB for nothing)."""
        if self.samples == 0:
            return -120.0
        if self.samples < self.frame:  # shorter than one block: the clip is the block
            power = float((self._rest.astype(np.float64) ** 2).mean())
            return float(10 * np.log10(max(power, 1e-12)))
        return self.loudest


@dataclass
class StreamResult:
    """The end of a stream: final text, audio seconds, and one-line warnings (no speech, too short)."""

    text: str
    audio_seconds: float
    warnings: list[str] = field(default_factory=list)
    compute_seconds: float = 0.0


class StreamRecognizer:
    """Base of the streaming recognizers: feed :meth:`accept` chunks, then call :meth:`finish`.

    Subclasses provide :meth:`_forward` (one model step over grouped frames, carrying its states)
    and :meth:`_reset_states`. ``decode_final(log_probs (T, V)) -> text`` is the offline decoding;
    ``decode_ids(ids) -> text`` turns greedy token ids into text for the partials.
    """

    def __init__(self, fb: Mapping, stack_frames: int, blank: int, decode_ids: Callable[[Sequence[int]], str],
                 decode_final: Callable[[np.ndarray], str], name: str = "<stream>",
                 segment: SegmentConfig | None = None):
        """``segment``: the speech floor and its block (:class:`SegmentConfig`, as offline transcription)."""
        self.fb = check_features(fb, "features")
        if self.fb["level_db"] is not None:
            raise ValueError(f"{name}: features.level_db is {self.fb['level_db']}: level normalization needs the whole "
                             "utterance, so this model cannot stream; train the streaming model with "
                             "features.fbank.level_db=null")
        self.sample_rate = int(self.fb["sample_rate"])
        self.segment = segment or SegmentConfig()
        self.features = LogMelStream(self.fb)
        self.stacker = FrameStacker(stack_frames, int(self.fb["n_mels"]))
        self.loudness = LoudnessTracker(int(round(self.segment.frame_seconds * self.sample_rate)))
        self.blank, self.decode_ids, self.decode_final = int(blank), decode_ids, decode_final
        self.stack_frames = int(stack_frames)
        self.name = name
        # a streaming model's only time reduction is its frame stacking (pyramidal pooling is refused)
        self.min_samples = min_speech_samples(self.sample_rate, int(self.fb["win_length"]),
                                              int(self.fb["hop_length"]), self.stack_frames)
        self.reset()

    def reset(self) -> None:
        """Start a new stream (features, states, texts)."""
        self.features.reset()
        self.stacker.reset()
        self.loudness.reset()
        self._reset_states()
        self._log_probs: list[np.ndarray] = []
        self._ids: list[int] = []
        self._prev = self.blank
        self.partial = ""
        self.compute_seconds = 0.0

    @property
    def audio_seconds(self) -> float:
        return self.features.samples / self.sample_rate

    def _reset_states(self) -> None:
        raise NotImplementedError

    def _forward(self, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """x, keep: (T, stack_frames * n_mels) -> (T, V) log-probs; the model's states move on by T."""
        raise NotImplementedError

    def _run(self, x: np.ndarray, keep: np.ndarray) -> None:
        if len(x) == 0:
            return
        lp = self._forward(x, keep)
        self._log_probs.append(lp)
        for a in lp.argmax(-1).tolist():
            if a != self._prev and a != self.blank:
                self._ids.append(a)
            self._prev = a

    def accept(self, samples: np.ndarray) -> str | None:
        """Mono float samples at :attr:`sample_rate` -> the new partial text, or None when it did not change."""
        t0 = time.perf_counter()
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        self.loudness.accept(samples)
        self._run(*self.stacker.accept(self.features.accept(samples)))
        self.compute_seconds += time.perf_counter() - t0
        text = self.decode_ids(self._ids)
        if text == self.partial:
            return None
        self.partial = text
        return text

    def finish(self) -> StreamResult:
        """The end of the stream: the last frames, then the offline decoding of all log-probs."""
        t0 = time.perf_counter()
        frames = self.features.finish()
        self._run(*self.stacker.accept(frames))
        self._run(*self.stacker.finish())
        seconds = self.audio_seconds
        warnings = []
        if self.features.samples < self.min_samples:
            warnings.append(too_short_message(self.name, seconds, self.min_samples / self.sample_rate))
        elif self.loudness.db() < self.segment.speech_floor_db:
            warnings.append(no_speech_message(self.name, seconds, self.segment.speech_floor_db, self.loudness.db()))
        if warnings or not self._log_probs:
            text = ""
        else:
            text = self.decode_final(np.concatenate(self._log_probs))
        self.compute_seconds += time.perf_counter() - t0
        return StreamResult(text, seconds, warnings, self.compute_seconds)

    def log_probs(self) -> np.ndarray:
        """(T, V) log-probs emitted so far (for tests and alignment)."""
        return np.concatenate(self._log_probs) if self._log_probs else np.zeros((0, 0), np.float32)


def check_stream_meta(meta: Mapping, where: str) -> dict:
    """An export's ``stream`` entry (written by speech.export.stream) checked: one-line ValueError naming ``where``."""
    if not isinstance(meta, Mapping):
        raise ValueError(f"{where}: expected an object with stack_frames, num_layers, state sizes")
    out = {}
    for k in ("stack_frames", "num_layers", "hidden_size", "output_size", "input_dim"):
        v = meta.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{where}.{k}: {v!r}; expected a whole number >= 1")
        out[k] = v
    return out


class OnnxStreamRecognizer(StreamRecognizer):
    """Streaming with the ``stream`` graph of an ONNX export (onnxruntime, no torch).

    ``export``: a :class:`speech.runtime.format.OnnxExport` whose meta has ``graphs.stream`` and a
    ``stream`` entry; ``decode_ids`` / ``decode_final`` as in :class:`StreamRecognizer`.
    """

    def __init__(self, export, decode_ids: Callable[[Sequence[int]], str], decode_final: Callable[[np.ndarray], str],
                 blank: int = 0, threads: int | None = None, name: str = "<stream>", segment: SegmentConfig | None = None):
        where = Path(export.path) / "meta.json"
        if "stream" not in export.graphs or "stream" not in export.meta:
            raise ExportFormatError(
                f"{export.path}: has no streaming graph; --stream needs an export of a unidirectional model "
                "(model.asr.bidirectional=false, e.g. python recipes/fsdd/run.py --streaming), exported again")
        try:
            self.spec = check_stream_meta(export.meta["stream"], f"{where}: stream")
            fb = check_features(export.meta.get("features"), f"{where}: features")
        except ValueError as e:
            raise ExportFormatError(str(e)) from None
        self.session = session(export.graphs["stream"], threads)
        super().__init__(fb, self.spec["stack_frames"], blank, decode_ids, decode_final, name, segment)

    def _reset_states(self) -> None:
        s = self.spec
        self._h = np.zeros((s["num_layers"], 1, s["output_size"]), np.float32)
        self._c = np.zeros((s["num_layers"], 1, s["hidden_size"]), np.float32)

    def _forward(self, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
        lp, self._h, self._c = self.session.run(
            ["log_probs", "h_out", "c_out"],
            {"x": x[None].astype(np.float32), "keep": keep[None].astype(np.float32), "h": self._h, "c": self._c})
        return lp[0]


class StreamFormatError(ValueError):
    """A byte stream that is not the audio --stream reads (one line naming the stream)."""


_PCM = {(1, 8): ("u1", 128.0, 128.0), (1, 16): ("<i2", 0.0, 32768.0), (1, 32): ("<i4", 0.0, 2147483648.0),
        (3, 32): ("<f4", 0.0, 1.0), (3, 64): ("<f8", 0.0, 1.0)}


def _read_exact(f, n: int) -> bytes:
    out = b""
    while len(out) < n:
        b = f.read(n - len(out))
        if not b:
            break
        out += b
    return out


def pcm_chunks(f, sample_rate: int, chunk_samples: int, name: str = "stdin"):
    """Mono float32 chunks of ``chunk_samples`` from a binary stream, read as it arrives.

    The stream is a WAV stream (RIFF header, then PCM: 8/16/32-bit integer or 32/64-bit float, any
    number of channels, averaged to mono; a streaming writer's unknown data size is read to the end)
    at ``sample_rate``, or, without a RIFF header, headerless 16-bit little-endian mono PCM at
    ``sample_rate``. The last chunk may be shorter; an odd trailing byte is dropped.

    Raises:
        StreamFormatError: a malformed header, another sample rate, an unsupported encoding.
    """
    head = _read_exact(f, 12)
    channels, dtype, offset, scale = 1, "<i2", 0.0, 32768.0
    carry = b""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        fmt = None
        while True:
            ch = _read_exact(f, 8)
            if len(ch) < 8:
                raise StreamFormatError(f"{name}: WAV stream ended before its data chunk")
            cid, size = ch[:4], int.from_bytes(ch[4:], "little")
            if cid == b"data":
                break
            body = _read_exact(f, size + (size & 1))
            if cid == b"fmt ":
                if len(body) < 16:
                    raise StreamFormatError(f"{name}: WAV fmt chunk of {len(body)} bytes; expected at least 16")
                tag, channels = int.from_bytes(body[0:2], "little"), int.from_bytes(body[2:4], "little")
                rate, bits = int.from_bytes(body[4:8], "little"), int.from_bytes(body[14:16], "little")
                if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
                    tag = int.from_bytes(body[24:26], "little")
                fmt = (tag, bits)
                if rate != sample_rate:
                    raise StreamFormatError(
                        f"{name}: WAV stream at {rate} Hz; the model expects {sample_rate} Hz (resample on the way "
                        f"in, e.g. ffmpeg -i IN -ac 1 -ar {sample_rate} -f wav - | speech transcribe --stream - ...)")
                if fmt not in _PCM or channels < 1:
                    raise StreamFormatError(f"{name}: WAV encoding (format tag {tag}, {bits} bits, {channels} "
                                            "channels) is not read on a stream; expected PCM 8/16/32-bit or float 32/64")
        if fmt is None:
            raise StreamFormatError(f"{name}: WAV stream without a fmt chunk before its data")
        dtype, offset, scale = _PCM[fmt]
    else:
        carry = head  # headerless: 16-bit little-endian mono PCM
    width = np.dtype(dtype).itemsize * channels
    want = chunk_samples * width
    while True:
        data = carry + _read_exact(f, want - len(carry))
        carry = b""
        usable = len(data) - len(data) % width
        if usable:
            x = np.frombuffer(data[:usable], dtype=dtype).astype(np.float32)
            x = (x - offset) / scale
            yield x.reshape(-1, channels).mean(axis=1) if channels > 1 else x
        if len(data) < want:
            return


def open_onnx_stream(spec, threads: int | None = None, name: str = "<stream>",
                     decoding: BeamSearchConfig | GreedyCTCDecoder | None = None,
                     segment: SegmentConfig | None = None) -> OnnxStreamRecognizer:
    """An :class:`OnnxStreamRecognizer` for an export folder (or a bundled name): its ``stream`` graph, tokenizer
    and ``decoding`` for the final text (:func:`speech.runtime.asr.decoding_settings`; None: the export's
    recommended decoding, else greedy).

    Raises:
        ExportFormatError: not an ASR export, or one without a streaming graph (one line saying what to do).
    """
    export = read_export(spec, "asr")
    tokenizer = CharTokenizer.load(export.file(export.meta.get("tokenizer", "tokenizer.json")))
    built = decoding if decoding is not None else export_decoding(export)
    decoder = make_decoder(built if built is not None else GreedyCTCDecoder(tokenizer.blank_id), tokenizer)
    final = lambda lp: decoder(lp[None], np.array([lp.shape[0]]))[0]  # noqa: E731 - (T, V) -> text
    return OnnxStreamRecognizer(export, tokenizer.decode, final, tokenizer.blank_id, threads, name, segment)
