"""Synthesis jobs: one text to one audio file (or to WAV bytes on a stream), or a batch file to one
audio file per line.

A batch file is either TSV (``id<TAB>text`` or ``id|text`` lines; ``#`` comments and blank lines
ignored) or JSON lines (one object per line: ``{"text": ..., "speaker": ..., "output": ..., "id": ...}``,
only ``text`` required; chosen by a ``.jsonl`` / ``.json`` suffix or a first line starting with
``{``). :meth:`SynthesisBatch.read` checks every line before any model is loaded;
:meth:`SynthesisBatch.run` then yields, in file order, a :class:`~speech.runtime.results.Failure` for each
bad line and a :class:`Written` or a ``Failure`` for each good one, and keeps the totals (files
written, lines failed, seconds of audio, real-time factor) -- the shape of
:meth:`speech.pipelines.transcriber.Transcriber.transcribe_files`. Every failure is one line naming
``batchfile:line``; the caller prints and carries on.

Without an output path, :func:`synthesize_to_file` names the file after the text's first words
and never overwrites. Every function takes any :class:`~speech.runtime.synthesis.SynthesizerCore`:
the torch :class:`~speech.pipelines.synthesizer.Synthesizer` (:func:`speech.pipelines.synthesis.open_synthesizer`)
or the ONNX :class:`~speech.runtime.tts.OnnxSynthesizer`. Nothing here imports torch.

Example::

    synth = open_synthesizer()                       # speech.pipelines.synthesis; or OnnxSynthesizer(export)
    synthesize_to_file(synth, "Hello world.")        # -> hello_world.wav (hello_world-2.wav if taken)
    batch = SynthesisBatch.read("prompts.jsonl")
    for r in batch.run(synth, "wavs/", sentence_silence=0.3):
        print(r.error if isinstance(r, Failure) else r.path)
    print(batch.summary())
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from speech.audio import save
from speech.audio.errors import AudioError, sf_message
from speech.audio.write import WRITE_FORMATS
from speech.fileio import atomic_writer
from speech.runtime.results import Failure
from speech.runtime.synthesis import SynthesisResult, SynthesizerCore, plot_synthesis
from speech.text.tts_normalize import split_sentences

__all__ = ["BatchLine", "SynthesisBatch", "Written", "default_output_name", "synthesize_to_file",
           "synthesize_to_stream", "wav_bytes"]

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
"""Batch ids become file names: letters, digits, '.', '_', '-', not starting with '.' or '-'."""


JSON_KEYS = {"text": "text", "speaker": "speaker", "speaker_id": "speaker", "output": "output",
             "output_file": "output", "id": "id"}
"""Keys of a JSON-lines batch line -> what they set (``speaker_id`` and ``output_file`` are piper's names)."""

DEFAULT_NAME_WORDS = 4
DEFAULT_NAME_CHARS = 40


@dataclass
class BatchLine:
    """A good line of a batch file."""

    line: int
    id: str
    """Its id (TSV) or its ``id`` (JSON lines; "" when it has none): names the line in messages."""
    text: str
    speaker: int | None = None
    """The line's speaker (JSON lines); None: the run's."""
    output: str | None = None
    """Its output file, relative to the run's folder unless absolute; None: ``<id>.wav``."""
    warnings: list[str] = field(default_factory=list)
    """Problems of the line that do not stop it (unknown keys)."""

    @property
    def name(self) -> str:
        """Its output file: ``output``, else ``<id>.wav``, else ``<line number>.wav``."""
        return self.output or f"{self.id or self.line}.wav"

    @property
    def stem(self) -> str:
        return Path(self.name).stem


@dataclass
class Written:
    """A synthesized text written to ``path`` (``-``: a stream)."""

    path: Path
    duration: float
    """Seconds of audio."""
    seconds: float
    """Wall-clock synthesis time."""
    warnings: list[str] = field(default_factory=list)
    """One line per problem that did not stop synthesis (skipped characters, guessed words)."""
    plot: Path | None = None
    """The PNG of its mel, durations and pitch, when asked for."""

    @property
    def rtf(self) -> float:
        return self.seconds / max(self.duration, 1e-9)


def default_output_name(text: str) -> str:
    """``hello_world.wav`` for "Hello, world! How are you?": the first sentence's first words (at most
    four, 40 characters), folded to lower-case ASCII letters and digits joined by ``_``;
    ``speech.wav`` when no word is left."""
    sentences = split_sentences(text)
    folded = unicodedata.normalize("NFKD", sentences[0] if sentences else "")
    words = re.findall(r"[a-z0-9]+", folded.encode("ascii", "ignore").decode("ascii").lower())
    slug = ""
    for w in words[:DEFAULT_NAME_WORDS]:
        longer = f"{slug}_{w}" if slug else w[:DEFAULT_NAME_CHARS]
        if len(longer) > DEFAULT_NAME_CHARS:
            break
        slug = longer
    return f"{slug or 'speech'}.wav"


def _claim(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem-2.wav``, ``stem-3.wav``, ... the first that does not exist, created
    empty (exclusively) so that no other writer takes it; the audio then replaces it."""
    stem, suffix = os.path.splitext(name)
    for k in range(1, 100_000):
        path = folder / (name if k == 1 else f"{stem}-{k}{suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise ValueError(f"{path}: cannot write ({e.strerror or e})") from None
    raise ValueError(f"{folder / name}: cannot find a free name (up to {stem}-99999{suffix} exist)")


def _first_line(e: BaseException) -> str:
    return next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)


def _cannot_write(path: Path, e: BaseException) -> str:
    """One line naming ``path`` and why it could not be written (the writer may name the file already)."""
    why = _first_line(e).removeprefix(f"{path}: ")
    return f"{path}: {why}" if why.startswith("cannot write") else f"{path}: cannot write ({why})"


def _write_parts(dest, res: SynthesisResult, fmt: str, subtype: str | None) -> None:
    """The result's audio parts, one after another, as one mono file (clipped to [-1, 1] part by
    part, as :func:`speech.audio.save` clips the whole): a long synthesis is never joined in memory."""
    with sf.SoundFile(dest, "w", samplerate=res.sample_rate, channels=1, subtype=subtype, format=fmt) as f:
        for part in res.wav_parts:
            f.write(np.clip(part, -1.0, 1.0))


def _save(res: SynthesisResult, path: Path) -> None:
    """:func:`speech.audio.save` of the result, written part by part through the one atomic writer
    when it has several parts (one part, or an extension save refuses: ``save`` itself)."""
    ext = path.suffix.lower()
    if len(res.wav_parts) == 1 or ext not in WRITE_FORMATS:
        save(path, res.wav, res.sample_rate)
        return
    fmt, subtype = WRITE_FORMATS[ext]
    try:
        with atomic_writer(path) as fh:
            _write_parts(fh, res, fmt, subtype)
    except (RuntimeError, sf.SoundFileError) as e:  # the encoder's refusal, worded as save words it
        raise AudioError(path, f"cannot write ({sf_message(e)}); expected a writable {fmt} destination") from None


def _write(res: SynthesisResult, path: Path, plot: Path | None, hop_seconds: float) -> None:
    try:
        _save(res, path)
        if plot is not None:
            plot_synthesis(res, plot, hop_seconds)
    except Exception as e:  # noqa: BLE001 - unknown extension, unwritable folder, full disk: one line
        raise ValueError(_cannot_write(path, e)) from None


def synthesize_to_file(synth: SynthesizerCore, text: str, out: str | Path | None = None,
                       plot: str | Path | bool | None = None, *, folder: str | Path = ".", speed: float = 1.0,
                       pitch_shift: float = 0.0, energy_scale: float = 1.0, speaker: int | None = None,
                       sentence_silence: float = 0.0) -> Written:
    """Synthesize ``text`` (any length) into the audio file ``out`` (format from its extension; an
    existing file is replaced), and a PNG of its mel, durations and pitch at ``plot`` when given
    (``True``: beside the audio, with ``.png``).

    ``out=None`` names the file :func:`default_output_name` in ``folder``, never replacing a file
    (``-2``, ``-3``, ... are added).

    Raises:
        ValueError: one line: ``out`` is a folder or cannot be written; the text has nothing to pronounce.
    """
    if out is not None and Path(out).is_dir():
        raise ValueError(f"{out}: is a folder; -o names the output audio file (folders are for --batch)")
    res = synth.synthesize(text, speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale, speaker=speaker,
                           sentence_silence=sentence_silence)
    hop = synth.hop_seconds
    if out is None:
        path = _claim(Path(folder), default_output_name(text))
        try:
            _write(res, path, None, hop)
        except BaseException:
            path.unlink(missing_ok=True)  # the claimed empty file: nothing was written
            raise
    else:
        path = Path(out)
        _write(res, path, None, hop)
    png = path.with_suffix(".png") if plot is True else Path(plot) if plot not in (None, False) else None
    if png is not None:  # after the audio is safe: a plot that fails does not cost the audio
        plot_synthesis(res, png, hop)
    return Written(path, res.duration, res.seconds, res.warnings, png)


def wav_bytes(res: SynthesisResult) -> bytes:
    """A synthesized text as a whole WAV file (16-bit PCM, mono) in memory."""
    buf = io.BytesIO()
    _write_parts(buf, res, "WAV", "PCM_16")
    return buf.getvalue()


def synthesize_to_stream(synth: SynthesizerCore, text: str, stream: BinaryIO, plot: str | Path | None = None, *,
                         speed: float = 1.0, pitch_shift: float = 0.0, energy_scale: float = 1.0,
                         speaker: int | None = None, sentence_silence: float = 0.0) -> Written:
    """Synthesize ``text`` and write it to the binary ``stream`` (e.g. ``sys.stdout.buffer``) as one
    WAV file (16-bit PCM), nothing else (the PNG at ``plot`` when given); the :class:`Written` has
    the path ``-``."""
    res = synth.synthesize(text, speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale, speaker=speaker,
                           sentence_silence=sentence_silence)
    stream.write(wav_bytes(res))
    stream.flush()
    png = Path(plot) if plot is not None else None
    if png is not None:
        plot_synthesis(res, png, synth.hop_seconds)
    return Written(Path("-"), res.duration, res.seconds, res.warnings, png)


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise FileNotFoundError(f"{path}: cannot read the batch file ({e.strerror or e})") from None


def _is_json_lines(path: str | Path, text: str) -> bool:
    """JSON lines: a ``.jsonl`` / ``.json`` suffix, or a first line (not blank, not a ``#`` comment)
    starting with ``{``."""
    if Path(path).suffix.lower() in (".jsonl", ".json"):
        return True
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    return first.startswith("{")


def _tsv_line(line: str, seen: dict[str, int], n: int) -> BatchLine | str:
    """A TSV line -> its :class:`BatchLine`, or why it is bad."""
    sep = "\t" if "\t" in line else "|" if "|" in line else None
    if sep is None:
        return f"expected 'id<TAB>text' or 'id|text', got {line[:60]!r}"
    uid, words = (part.strip() for part in line.split(sep, 1))
    if not uid:
        return "empty id"
    if not SAFE_ID.match(uid):
        return (f"id {uid[:60]!r} is not usable as a file name (letters, digits, '.', '_', '-'; not starting "
                "with '.' or '-')")
    if uid in seen:
        return f"duplicate id {uid!r} (first on line {seen[uid]})"
    seen[uid] = n
    return BatchLine(n, uid, words) if words else f"{uid}: empty text"


def _speaker(value) -> int | None | str:
    """A JSON ``speaker`` -> its id (None when absent), or why it is bad."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return f'"speaker" must be a speaker id (a whole number >= 0), got {json.dumps(value)[:40]}'


def _json_line(line: str, n: int) -> BatchLine | str:
    """A JSON-lines line -> its :class:`BatchLine`, or why it is bad."""
    example = '{"text": "Hello.", "speaker": 0, "output": "hello.wav"}'
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return f"not JSON ({e.msg} at column {e.colno}); expected an object such as {example}"
    if not isinstance(obj, dict):
        return f"a JSON {type(obj).__name__}; expected an object such as {example}"
    got: dict = {}
    for key, value in obj.items():
        role = JSON_KEYS.get(key)
        if role is not None and role in got and got[role][1] != value:
            return f'"{got[role][0]}" and "{key}" disagree; give one'
        if role is not None:
            got[role] = (key, value)
    text = got.get("text", (None, None))[1]
    if not isinstance(text, str) or not text.strip():
        return ('no "text"' if "text" not in got else f'"text" must be a non-empty string, got '
                f'{json.dumps(text)[:40]}') + f"; expected an object such as {example}"
    speaker = _speaker(got.get("speaker", (None, None))[1])
    if isinstance(speaker, str):
        return speaker
    output = got.get("output", (None, None))[1]
    if output is not None:
        if not isinstance(output, str) or not output.strip():
            return f'"output" must be a file name, got {json.dumps(output)[:40]}'
        ext = os.path.splitext(output)[1].lower()
        if ext not in WRITE_FORMATS:
            return (f"output {output!r}: cannot write '{ext or '(no extension)'}'; expected one of "
                    f"{', '.join(sorted(WRITE_FORMATS))}")
    uid = got.get("id", (None, None))[1]
    if uid is not None and (isinstance(uid, bool) or not isinstance(uid, (str, int))):
        return f'"id" must be a string, got {json.dumps(uid)[:40]}'
    uid = str(uid).strip() if uid is not None else ""
    if output is None and uid and not SAFE_ID.match(uid):
        return (f"id {uid[:60]!r} is not usable as a file name (letters, digits, '.', '_', '-'; not starting "
                'with \'.\' or \'-\'); give "output"')
    unknown = [k for k in obj if k not in JSON_KEYS]
    warnings = [f"ignored unknown key(s) {', '.join(map(repr, unknown))} (known: text, speaker, output, id)"] \
        if unknown else []
    return BatchLine(n, uid, text.strip(), speaker, output, warnings)


class SynthesisBatch:
    """The checked lines of a batch file, and the run that synthesizes them (see the module docstring)."""

    def __init__(self, path: str | Path, lines: list[BatchLine], problems: list[Failure], json_lines: bool = False):
        self.path = str(path)
        self.lines = lines
        self.problems = problems
        self.json_lines = json_lines
        self.written = 0
        self.failed = 0
        self.audio_seconds = 0.0
        self.synth_seconds = 0.0

    @classmethod
    def read(cls, path: str | Path) -> SynthesisBatch:
        """Parse and check a batch file (TSV or JSON lines, see the module docstring). Bad lines become
        :attr:`problems`, each naming ``path:line``: TSV: no separator, empty or duplicate id, an id
        unusable as a file name, empty text; JSON: not a JSON object, no text, a speaker that is no
        id, an output without an audio extension, two lines writing the same file.

        Raises:
            FileNotFoundError / ValueError: the file cannot be read, is not UTF-8, or has no lines.
        """
        text = _read_text(path)
        json_lines = _is_json_lines(path, text)
        if json_lines and text.lstrip().startswith("["):
            raise ValueError(f"{path}: a JSON array; expected JSON lines (one object per line, "
                             '{"text": ..., "speaker": ..., "output": ...})')
        lines: list[BatchLine] = []
        problems: list[Failure] = []
        seen: dict[str, int] = {}
        # JSON strings may hold U+2028 and friends, which splitlines() would break a line at
        rows = text.split("\n") if json_lines else text.splitlines()
        for n, line in enumerate(rows, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            item = _json_line(line, n) if json_lines else _tsv_line(line, seen, n)
            if json_lines and isinstance(item, BatchLine):
                key = os.path.normpath(item.name)
                if key in seen:
                    item = f"output {item.name!r} is also written by line {seen[key]}"
                else:
                    seen[key] = n
            if isinstance(item, str):
                problems.append(Failure(f"{path}:{n}", f"{path}:{n}: {item}"))
            else:
                lines.append(item)
        if not lines and not problems:
            raise ValueError(f"{path}: no lines to synthesize")
        return cls(path, lines, problems, json_lines)

    def run(self, synth: SynthesizerCore, out_dir: str | Path = ".", plot_dir: str | Path | None = None, *,
            speed: float = 1.0, pitch_shift: float = 0.0, energy_scale: float = 1.0, speaker: int | None = None,
            sentence_silence: float = 0.0) -> Iterator[Written | Failure]:
        """Synthesize every good line to ``out_dir/<id>.wav`` or its ``output`` (and ``plot_dir/<id>.png``
        when given): yields the bad lines' failures first, then a :class:`Written` or a :class:`Failure`
        per line, in file order. ``speaker`` is for lines that name none. A line's warnings are
        prefixed with ``path:line: id: `` (``path:line: `` without an id); a speaker the voice lacks or
        an unwritable output fails its line.

        Raises:
            ValueError: ``out_dir`` is not a folder and cannot be made one (before anything is synthesized).
        """
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out}: not a folder; with --batch, -o names the output folder")
        if any(not Path(item.name).is_absolute() for item in self.lines):
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ValueError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
        plots = Path(plot_dir) if plot_dir is not None else None
        hop = synth.hop_seconds
        for problem in self.problems:
            self.failed += 1
            yield problem
        for item in self.lines:
            where = f"{self.path}:{item.line}"
            said = f"{where}: {item.id}: " if item.id else f"{where}: "
            try:
                spk = synth.check_speaker(item.speaker if item.speaker is not None else speaker,
                                          label=lambda _, v: f"speaker {v}")
                res = synth.synthesize(item.text, speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale,
                                       speaker=spk, sentence_silence=sentence_silence)
            except ValueError as e:  # nothing to pronounce, no such speaker
                self.failed += 1
                yield Failure(where, f"{said}{_first_line(e)}")
                continue
            path = out / item.name  # an absolute output stays itself
            png = plots / f"{item.stem}.png" if plots is not None else None
            try:
                _write(res, path, png, hop)
            except ValueError as e:  # its message names the file
                self.failed += 1
                yield Failure(where, f"{where}: {_first_line(e)}")
                continue
            self.written += 1
            self.audio_seconds += res.duration
            self.synth_seconds += res.seconds
            warnings = [f"{said}{w}" for w in item.warnings + res.warnings]
            yield Written(path, res.duration, res.seconds, warnings, png)

    @property
    def rtf(self) -> float:
        """Synthesis time / audio time over the files written (NaN before any)."""
        return self.synth_seconds / self.audio_seconds if self.audio_seconds > 0 else math.nan

    def summary(self) -> str:
        """``N written, F failed, A s of audio, RTF r``."""
        return (f"{self.written} written, {self.failed} failed, {self.audio_seconds:.1f} s of audio, "
                f"RTF {self.rtf:.3f}")
