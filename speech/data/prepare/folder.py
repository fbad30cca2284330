"""Importer for a plain folder of recordings with same-name transcripts.

Every audio file under ``src`` (recursively; the extensions :func:`speech.audio.load` reads,
:data:`speech.audio.AUDIO_EXTENSIONS`: ``.wav .flac .ogg .mp3 .opus .m4a .aac .wma .sph .aiff
.aif .au``, any case; hidden folders skipped) is paired with a transcript of the same stem::

    src/<...>/x.flac + src/<...>/x.txt          transcript beside the audio, or
    src/<...>/audio/x.flac + src/<...>/text/x.txt   in a sibling folder (any name; must be unique)

``.lab`` files (the Montreal Forced Aligner convention) are accepted where no ``.txt`` exists.
Of two audio files with the same stem in one folder (``x.wav`` and ``x.flac``), the first in name
order is used and the other skipped with a warning.
Audio without a transcript is skipped, with one warning giving the count. Text is the file's
content (lines joined), normalized. One split, "all".

Ids are file stems; where two files share a stem, their path relative to ``src`` (without the
extension, "/"-separated) is used instead. Speaker = the nearest folder between ``src`` and the
file whose name is not a generic container name (audio, wav, wavs, flac, recordings, clips, train,
test, ...): ``src/alice/wav/1.wav`` -> "alice", ``src/audio/1.flac`` -> None, ``src/1.wav`` -> None.

Audio that :func:`speech.audio.info` cannot read (e.g. ``.m4a`` when ffmpeg is not installed, or
``.opus`` with an old libsndfile) is skipped with a warning naming the file; durations are always
measured, never 0.
"""

from __future__ import annotations

import os
from pathlib import Path

from speech.audio import AUDIO_EXTENSIONS
from speech.data.manifest import Utterance
from speech.data.prepare._common import audio_duration, cached, finish, listing_signature, log, read_text
from speech.text.normalize import normalize_asr_text

__all__ = ["prepare_folder"]

_TEXT_EXTENSIONS = (".txt", ".lab")
_GENERIC_DIRS = {
    "audio", "audios", "wav", "wavs", "wave", "waves", "flac", "mp3", "ogg", "opus", "m4a", "recordings",
    "recording", "clips", "data", "speech", "files", "utterances", "utts", "train", "test", "dev", "valid",
    "validation", "eval",
}


def _walk(src: Path, skip: Path) -> tuple[list[Path], dict[tuple[Path, str], Path], list[Path]]:
    """Audio files, transcripts by (folder, stem) and all folders walked, in sorted order.

    Hidden folders and ``skip`` (the output folder, when it lies inside ``src``) are left out.
    """
    audio: list[Path] = []
    texts: dict[tuple[Path, str], Path] = {}
    dirs: list[Path] = []
    for root, dirnames, filenames in os.walk(src):
        root_p = Path(root)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and root_p / d != skip)
        dirs.append(root_p)
        for name in sorted(filenames):
            stem, ext = os.path.splitext(name)
            ext = ext.lower()
            if ext in AUDIO_EXTENSIONS:
                audio.append(root_p / name)
            elif ext in _TEXT_EXTENSIONS:
                key = (root_p, stem)
                if key not in texts or ext == ".txt":
                    texts[key] = root_p / name
    return audio, texts, dirs


def _speaker(path: Path, src: Path) -> str | None:
    folder = path.parent
    while folder != src and src in folder.parents:
        if folder.name.lower() not in _GENERIC_DIRS:
            return folder.name
        folder = folder.parent
    return None


def prepare_folder(src: str | Path, out_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write ``all.jsonl`` for a folder of audio files with same-name transcripts.

    Args:
        src: the folder to scan recursively.
        out_dir: where the manifest and the ``.prepared.json`` stamp go.
        force: redo the work even if an earlier run's manifest is up to date.

    Returns:
        ``{"all": out_dir/all.jsonl}`` (empty when no audio file has a transcript).

    Raises:
        FileNotFoundError: when ``src`` is not a folder or holds no audio files.
    """
    src = Path(src).resolve()
    expected = (f"expected audio files ({' '.join(AUDIO_EXTENSIONS)}) each with a same-name .txt "
                f"transcript beside it or in a sibling folder")
    if not src.is_dir():
        raise FileNotFoundError(f"folder corpus not found at {src}: {expected}")
    out = Path(out_dir).resolve()
    if src == out or src in out.parents:
        out.mkdir(parents=True, exist_ok=True)  # before the signature: creating it touches src's mtime
    audio, texts, dirs = _walk(src, out)
    if not audio:
        raise FileNotFoundError(f"no audio files under {src}: {expected}")
    sig = listing_signature(dirs)
    if not force and (done := cached(out_dir, "folder", src, sig)) is not None:
        return done

    # sibling-folder transcripts: (grandparent folder, stem) -> candidates
    by_grandparent: dict[tuple[Path, str], list[Path]] = {}
    for (folder, stem), path in texts.items():
        by_grandparent.setdefault((folder.parent, stem), []).append(path)

    pairs: list[tuple[Path, Path]] = []
    seen: dict[tuple[Path, str], Path] = {}
    untranscribed: list[Path] = []
    for path in audio:
        key = (path.parent, path.stem)
        if key in seen:
            log.warning("skipping %s: %s has the same name", path, seen[key].name)
            continue
        seen[key] = path
        text = texts.get(key)
        if text is None:
            cands = [t for t in by_grandparent.get((path.parent.parent, path.stem), []) if t.parent != path.parent]
            if len(cands) > 1:
                log.warning("skipping %s: several transcripts match (%s)", path, ", ".join(map(str, cands)))
                continue
            text = cands[0] if cands else None
        if text is None:
            untranscribed.append(path)
        else:
            pairs.append((path, text))
    if untranscribed:
        log.warning("folder: %d audio file(s) under %s have no same-name .txt transcript and are skipped "
                    "(first: %s)", len(untranscribed), src, untranscribed[0])

    stems: dict[str, int] = {}
    for path, _ in pairs:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    utts: list[Utterance] = []
    for path, text_path in pairs:
        duration = audio_duration(path)
        if duration is None:
            continue
        utt_id = path.stem if stems[path.stem] == 1 else path.relative_to(src).with_suffix("").as_posix()
        utts.append(Utterance(id=utt_id, audio=str(path), duration=duration,
                              text=normalize_asr_text(read_text(text_path)), speaker=_speaker(path, src)))
    return finish(out_dir, "folder", src, sig, {"all": utts})
