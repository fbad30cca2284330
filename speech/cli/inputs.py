"""What ``speech transcribe`` reads: files, folders, glob patterns and ``-`` (audio bytes on stdin)."""
from __future__ import annotations

import contextlib
import glob
import shutil
import sys
import tempfile
from pathlib import Path

from speech.cli.outputs import STDIN, STDIN_NAME


def expand_inputs(items: list[str]) -> tuple[list[str], list[str]]:
    """Files, folders (searched recursively for audio), glob patterns and ``-`` (stdin) -> (files, problems)."""
    from speech.audio import AUDIO_EXTENSIONS

    files, problems = [], []
    for item in items:
        p = Path(item)
        if item == STDIN:
            files.append(item)
        elif p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                problems.append(f"{item}: folder holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            files.extend(found)
        elif p.exists():
            files.append(item)
        elif glob.has_magic(item):
            found = sorted(glob.glob(item, recursive=True))
            if not found:
                problems.append(f"{item}: pattern matches no files")
            files.extend(f for f in found if Path(f).is_file())
        else:
            files.append(item)  # reported by the loader as missing, in order
    return files, problems


@contextlib.contextmanager
def stdin_audio(files: list[str]):
    """When ``-`` is among ``files``: stdin's bytes spooled to a temporary file, removed afterwards.
    Yields (that file or None, a one-line problem or None)."""
    if STDIN not in files:
        yield None, None
        return
    if sys.stdin is None or sys.stdin.isatty():
        yield None, "stdin: is a terminal, not audio; pipe a file in (cat clip.wav | speech transcribe - --model NAME)"
        return
    with tempfile.TemporaryDirectory(prefix="speech-stdin-") as folder:
        tmp = Path(folder) / "stdin"
        with open(tmp, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f)
            size = f.tell()
        yield (str(tmp), None) if size else (None, "stdin: not audio (no bytes were read); expected the bytes of "
                                                   "an audio file (WAV, FLAC, OGG, MP3, ...)")


def as_stdin(r, tmp: str):
    """A result for the spooled stdin file, named ``-`` / ``stdin`` instead of the temporary path."""
    from speech.pipelines.results import Failure

    if isinstance(r, Failure):
        return Failure(STDIN, f"stdin: not audio ({r.error.removeprefix(tmp + ': ')})")
    r.path = STDIN
    r.warnings = [w.replace(tmp, STDIN_NAME) for w in r.warnings]
    return r
