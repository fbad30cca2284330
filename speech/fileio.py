"""Writing files so that a crash never leaves a half-written one behind."""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterator

_IMPORT_TIME = time.time()


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: int = 0o644, durable: bool = True) -> Iterator[BinaryIO]:
    """The one atomic writer: yields a binary file that becomes ``path`` only when the block ends cleanly.

    The data goes to a temporary file beside ``path`` (``.<name>.<8 random characters>.tmp``), is
    flushed and (``durable=True``) fsynced, then renamed over ``path`` and the folder fsynced, so
    readers and a crash at any point see the old file or the new one, never a partial one. An
    exception inside the block removes the temporary file and leaves ``path`` untouched. Parent
    folders are created. Every file the toolkit writes goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600; these files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write_bytes(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_writer`; returns the path."""
    with atomic_writer(path, mode) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, mode: int = 0o644) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` newlines) to ``path`` through :func:`atomic_writer`."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


# mkstemp names written by atomic_writer:
# ".<final name>.<8 random characters>.tmp"
_TMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def process_start_time() -> float:
    """When this process started (seconds since the epoch); the module's import time where /proc is missing."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])  # field 22: start time in clock ticks after boot
        btime = next(int(ln.split()[1]) for ln in Path("/proc/stat").read_text().splitlines()
                     if ln.startswith("btime "))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORT_TIME


def remove_stale_tmp(folder: str | Path, older_than: float | None = None) -> tuple[int, int]:
    """Delete the temporary files that killed atomic writes left in ``folder`` (not recursive).

    Only names of the atomic writers' pattern (``.<name>.<random>.tmp``) whose modification time is
    before ``older_than`` (default: this process's start) are removed, so a write still in progress in
    another process is left alone. Returns ``(files removed, bytes freed)``; a file that cannot be
    removed is skipped."""
    folder = Path(folder)
    cutoff = process_start_time() if older_than is None else older_than
    count = freed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0, 0
    for entry in entries:
        if not _TMP_NAME.match(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False) or st.st_mtime >= cutoff:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        count += 1
        freed += st.st_size
    return count, freed
