"""Synthesis jobs: one text to one audio file, or a batch file to one audio file per line.

A batch file holds ``id<TAB>text`` or ``id|text`` lines (``#`` comments and blank lines ignored).
:meth:`SynthesisBatch.read` checks every line before any model is loaded; :meth:`SynthesisBatch.run`
then yields, in file order, a :class:`~speech.pipelines.Failure` for each bad line and a
:class:`Written` or a ``Failure`` for each good one, and keeps the totals (files written, lines
failed, seconds of audio, real-time factor) -- the shape of
:meth:`speech.pipelines.Transcriber.transcribe_files`. Every failure is one line naming
``batchfile:line``; the caller prints and carries on.

Example::

    synth = open_synthesizer("exp/kathleen/model", vocoder="griffin-lim", device="cpu")
    batch = SynthesisBatch.read("prompts.tsv")
    for r in batch.run(synth, "wavs/"):
        print(r.error if isinstance(r, Failure) else r.path)
    print(batch.summary())
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from speech.audio import save
from speech.packages.vocoder import load_vocoder
from speech.packages.voice import load_tts_package
from speech.pipelines.synthesizer import SynthesisResult, Synthesizer, plot_synthesis
from speech.pipelines.transcriber import Failure

__all__ = ["BatchLine", "SynthesisBatch", "Written", "open_synthesizer", "synthesize_to_file"]

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
"""Batch ids become file names: letters, digits, '.', '_', '-', not starting with '.' or '-'."""


@dataclass
class BatchLine:
    """A good line of a batch file."""

    line: int
    id: str
    text: str


@dataclass
class Written:
    """A synthesized text written to ``path``."""

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


def open_synthesizer(model, vocoder: str = "griffin-lim", device: str = "cpu", gl_iters: int = 32) -> Synthesizer:
    """A :class:`Synthesizer` for a voice package with its vocoder on ``device`` (``vocoder``:
    ``griffin-lim`` with ``gl_iters`` iterations, or a vocoder package folder)."""
    pkg = load_tts_package(model, device)
    voc = load_vocoder(vocoder, pkg.fbank, device=device, n_iter=gl_iters)
    return Synthesizer(pkg, vocoder=voc, device=device)


def _first_line(e: BaseException) -> str:
    return next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)


def _cannot_write(path: Path, e: BaseException) -> str:
    """One line naming ``path`` and why it could not be written (the writer may name the file already)."""
    why = _first_line(e)
    if why.startswith(f"{path}: "):
        why = why[len(f"{path}: "):]
    return f"{path}: {why}" if why.startswith("cannot write") else f"{path}: cannot write ({why})"


def _write(res: SynthesisResult, path: Path, plot: Path | None, hop_seconds: float) -> None:
    try:
        save(path, res.wav, res.sample_rate)
        if plot is not None:
            plot_synthesis(res, plot, hop_seconds)
    except Exception as e:  # noqa: BLE001 - unknown extension, unwritable folder, full disk: one line
        raise ValueError(_cannot_write(path, e)) from None


def synthesize_to_file(synth: Synthesizer, text: str, out: str | Path, plot: str | Path | None = None,
                       speed: float = 1.0, pitch_shift: float = 0.0, energy_scale: float = 1.0) -> Written:
    """Synthesize ``text`` (any length) into the audio file ``out`` (format from its extension), and a PNG
    of its mel, durations and pitch at ``plot`` when given.

    Raises:
        ValueError: one line: ``out`` is a folder or cannot be written; the text has nothing to pronounce.
    """
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"{out}: is a folder; -o names the output audio file (folders are for --batch)")
    res = synth.synthesize(text, speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale)
    hop = synth.package.fbank.hop_ms / 1000.0
    _write(res, out, None, hop)
    png = Path(plot) if plot is not None else None
    if png is not None:  # after the audio is safe: a plot that fails does not cost the audio
        plot_synthesis(res, png, hop)
    return Written(out, res.duration, res.seconds, res.warnings, png)


class SynthesisBatch:
    """The checked lines of a batch file, and the run that synthesizes them (see the module docstring)."""

    def __init__(self, path: str | Path, lines: list[BatchLine], problems: list[Failure]):
        self.path = str(path)
        self.lines = lines
        self.problems = problems
        self.written = 0
        self.failed = 0
        self.audio_seconds = 0.0
        self.synth_seconds = 0.0

    @classmethod
    def read(cls, path: str | Path) -> SynthesisBatch:
        """Parse and check a batch file. Bad lines (no separator, empty or duplicate id, an id unusable as
        a file name, empty text) become :attr:`problems`, each naming ``path:line``.

        Raises:
            FileNotFoundError / ValueError: the file cannot be read, is not UTF-8, or has no lines.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text") from None
        except OSError as e:
            raise FileNotFoundError(f"{path}: cannot read the batch file ({e.strerror or e})") from None
        lines: list[BatchLine] = []
        problems: list[Failure] = []
        seen: dict[str, int] = {}

        def bad(n: int, why: str) -> None:
            problems.append(Failure(f"{path}:{n}", f"{path}:{n}: {why}"))

        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            sep = "\t" if "\t" in line else "|" if "|" in line else None
            if sep is None:
                bad(n, f"expected 'id<TAB>text' or 'id|text', got {line[:60]!r}")
                continue
            uid, words = (part.strip() for part in line.split(sep, 1))
            if not uid:
                bad(n, "empty id")
            elif not SAFE_ID.match(uid):
                bad(n, f"id {uid[:60]!r} is not usable as a file name (letters, digits, '.', '_', '-'; not "
                       "starting with '.' or '-')")
            elif uid in seen:
                bad(n, f"duplicate id {uid!r} (first on line {seen[uid]})")
            else:
                seen[uid] = n
                if words:
                    lines.append(BatchLine(n, uid, words))
                else:
                    bad(n, f"{uid}: empty text")
        if not lines and not problems:
            raise ValueError(f"{path}: no lines to synthesize")
        return cls(path, lines, problems)

    def run(self, synth: Synthesizer, out_dir: str | Path, plot_dir: str | Path | None = None,
            speed: float = 1.0, pitch_shift: float = 0.0, energy_scale: float = 1.0) -> Iterator[Written | Failure]:
        """Synthesize every good line to ``out_dir/<id>.wav`` (and ``plot_dir/<id>.png`` when given): yields
        the bad lines' failures first, then a :class:`Written` or a :class:`Failure` per line, in file
        order. A line's warnings are prefixed with ``path:line: id: ``.

        Raises:
            ValueError: ``out_dir`` exists and is not a folder (before anything is synthesized).
        """
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out}: not a folder; with --batch, -o names the output folder")
        plots = Path(plot_dir) if plot_dir is not None else None
        hop = synth.package.fbank.hop_ms / 1000.0
        for problem in self.problems:
            self.failed += 1
            yield problem
        for item in self.lines:
            where = f"{self.path}:{item.line}"
            try:
                res = synth.synthesize(item.text, speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale)
            except ValueError as e:  # nothing to pronounce
                self.failed += 1
                yield Failure(where, f"{where}: {item.id}: {_first_line(e)}")
                continue
            path = out / f"{item.id}.wav"
            png = plots / f"{item.id}.png" if plots is not None else None
            try:
                _write(res, path, png, hop)
            except ValueError as e:  # its message names the file
                self.failed += 1
                yield Failure(where, f"{where}: {_first_line(e)}")
                continue
            self.written += 1
            self.audio_seconds += res.duration
            self.synth_seconds += res.seconds
            yield Written(path, res.duration, res.seconds, [f"{where}: {item.id}: {w}" for w in res.warnings], png)

    @property
    def rtf(self) -> float:
        """Synthesis time / audio time over the files written (NaN before any)."""
        return self.synth_seconds / self.audio_seconds if self.audio_seconds > 0 else math.nan

    def summary(self) -> str:
        """``N written, F failed, A s of audio, RTF r``."""
        return (f"{self.written} written, {self.failed} failed, {self.audio_seconds:.1f} s of audio, "
                f"RTF {self.rtf:.3f}")
