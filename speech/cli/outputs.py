"""What ``speech transcribe`` writes: one document per input in each ``--format``, the names of the
files under ``--output-dir``, and the manifest mode's lines (``--manifest``: the same objects with
``pred_text`` added).

Output names (``--output-dir DIR``): ``DIR/<stem>.<format>`` when the inputs' file names without
their extension (stems) are all different. When two inputs share a stem (``a/x.wav``, ``b/x.wav``),
every input's path relative to the inputs' common folder is mirrored under DIR (``DIR/a/x.txt``,
``DIR/b/x.txt``); inputs that still share a name (``x.wav`` and ``x.flac`` in one folder) keep
their extension (``DIR/x.wav.txt``, ``DIR/x.flac.txt``), and anything left gets ``-2``, ``-3``, ...
in input order. Audio read from stdin (``-``) is named ``stdin``. The same file given twice has
one name.

Standard library only at the top: the subtitle writers (speech.pipelines) load when a document is made.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from speech.cli import errors
from speech.cli.errors import printable
from speech.fileio import atomic_write_text

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
"""Every document format, one file each under ``--output-dir``; ``--format all`` writes them all."""
FORMAT_CHOICES = (*FORMATS, "all")
TIMED = ("srt", "vtt", "tsv")
"""Formats made of timed cues: they need word times, and several of them never go to stdout together."""
STDIN = "-"
STDIN_NAME = "stdin"


def formats_of(choice: str) -> tuple[str, ...]:
    return FORMATS if choice == "all" else (choice,)


def needs_timestamps(choice: str) -> bool:
    return any(f in TIMED for f in formats_of(choice))


def render(result, fmt: str) -> str:
    """One input's document in ``fmt`` (a :class:`~speech.pipelines.Transcript`), ending in a newline."""
    if fmt == "txt":
        return result.text + "\n"
    if fmt == "json":
        return json.dumps(result.to_dict(), ensure_ascii=False) + "\n"
    from speech.pipelines.subtitles import to_srt, to_tsv, to_vtt, transcript_cues

    cues = transcript_cues(result.words, result.text, result.duration)
    return {"srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}[fmt](cues)


def emit(result, name: str | None, fmt: str, out_dir: Path | None, show_path: bool) -> bool:
    """Print one result's document on stdout (``input<TAB>text`` for txt when ``show_path``), or write
    its documents as ``out_dir/<name>.<format>``, printing ``input<TAB>file`` for each; False when a
    file could not be written (reported on its own line)."""
    if out_dir is None:
        line = f"{printable(result.path)}\t{result.text}\n" if fmt == "txt" and show_path else render(result, fmt)
        print(line, end="", flush=True)
        return True
    for f in formats_of(fmt):
        try:
            out = write_document(out_dir, name, f, render(result, f))
        except OSError as e:
            errors.error(f"{out_dir / (name + '.' + f)}: cannot write ({e.strerror or e}); {result.path} not saved")
            return False
        print(f"{printable(result.path)}\t{printable(str(out))}", flush=True)
    return True


# --------------------------------------------------------------------------- names
def _resolved(p: str) -> str:
    return STDIN if p == STDIN else str(Path(p).resolve())


def _unique_collisions(names: dict[str, str], better) -> dict[str, str]:
    """``names`` with every name that two keys share replaced by ``better(key)``."""
    counts = Counter(names.values())
    return {k: (better(k) if counts[v] > 1 else v) for k, v in names.items()}


def output_names(inputs: list[str]) -> dict[str, str]:
    """Input (as given) -> its output name under ``--output-dir``, without the format's extension
    (a relative POSIX path, possibly with folders); the rule is in the module's docstring."""
    keys = list(dict.fromkeys(_resolved(p) for p in inputs))  # one name per file, in input order
    names = {k: STDIN_NAME if k == STDIN else Path(k).stem for k in keys}
    if len(set(names.values())) < len(names):
        folders = [str(Path(k).parent) for k in keys if k != STDIN]
        common = os.path.commonpath(folders) if folders else os.getcwd()

        def rel(k: str) -> str:
            return Path(os.path.relpath(k, common)).as_posix() if k != STDIN else STDIN_NAME

        names = {k: (STDIN_NAME if k == STDIN else rel(str(Path(k).with_suffix("")))) for k in keys}
        names = _unique_collisions(names, rel)
    taken: set[str] = set()
    for k in keys:  # the last resort: -2, -3, ... in input order
        name, n = names[k], 1
        while names[k] in taken:
            n += 1
            names[k] = f"{name}-{n}"
        taken.add(names[k])
    return {p: names[_resolved(p)] for p in inputs}


def prepare_output_dir(folder: str) -> Path:
    """Create ``--output-dir`` and check that files can be written there, before any work.

    Raises:
        ValueError: one line naming the folder (``--output-dir out: cannot write there (...)``).
    """
    p = Path(folder)
    if p.exists() and not p.is_dir():
        raise ValueError(f"--output-dir {folder}: is a file, not a folder; expected a folder to write into")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as e:
        raise ValueError(f"--output-dir {folder}: cannot write there ({e.strerror or e}); expected a writable "
                         "folder") from None
    return p


def write_document(out_dir: Path, name: str, fmt: str, text: str) -> Path:
    """Write one document atomically to ``out_dir/<name>.<fmt>`` (folders created)."""
    return atomic_write_text(out_dir / f"{name}.{fmt}", text)


# ------------------------------------------------------------------------ manifest
@dataclass
class ManifestLine:
    """One line of a ``--manifest``: its object (or None when it is not one), the audio file it
    names (relative paths resolved against the manifest's folder) and why it cannot be transcribed."""

    lineno: int
    row: dict | None
    audio: str | None = None
    error: str | None = None


def read_manifest_lines(path: str | Path) -> list[ManifestLine]:
    """Every non-blank line of a JSON-lines manifest; bad lines carry their ``error`` (a line that is
    not a JSON object, an object without an ``"audio"`` path, a segment by ``start`` / ``end``).

    Raises:
        FileNotFoundError / ValueError: the manifest itself is missing, unreadable or holds no line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"--manifest {path}: no such file; expected a JSON-lines manifest") from None
    except IsADirectoryError:
        raise ValueError(f"--manifest {path}: is a folder; expected a JSON-lines manifest") from None
    lines = []
    for lineno, data in enumerate(raw.removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1):
        if not data.strip():
            continue
        lines.append(_manifest_line(lineno, data, path.parent))
    if not lines:
        raise ValueError(f"--manifest {path}: holds no lines; expected one JSON object per line with an "
                         "\"audio\" field")
    return lines


def _manifest_line(lineno: int, data: bytes, folder: Path) -> ManifestLine:
    try:
        row = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return ManifestLine(lineno, None, error="not UTF-8 text; expected a JSON object")
    except json.JSONDecodeError as e:
        return ManifestLine(lineno, None, error=f"not JSON ({e.msg} at column {e.colno}); expected a JSON object")
    if not isinstance(row, dict):
        return ManifestLine(lineno, None, error=f"a JSON {type(row).__name__}, not an object; expected a JSON "
                                                "object with an \"audio\" field")
    audio = row.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        got = "missing" if audio is None else f"{audio!r}"
        return ManifestLine(lineno, row, error=f"field \"audio\" is {got}; expected the path of an audio file")
    if row.get("start") is not None or row.get("end") is not None:
        return ManifestLine(lineno, row, error="fields \"start\" / \"end\" (a segment of the file) are not "
                                               "supported by speech transcribe; expected whole-file entries")
    p = Path(audio)
    return ManifestLine(lineno, row, audio=str(p if p.is_absolute() else folder / p))


def manifest_row(line: ManifestLine, pred_text: str | None, words: list | None = None) -> dict:
    """The output object of one manifest line: its own fields and ``pred_text`` (None and
    ``error`` for a line that failed; ``line`` for a line that was no object)."""
    row = dict(line.row) if line.row is not None else {"line": line.lineno}
    row["pred_text"] = None if line.error else pred_text
    if line.error:
        row["error"] = line.error
    elif words is not None:
        row["words"] = words
    return row


def manifest_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
