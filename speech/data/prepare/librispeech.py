"""LibriSpeech importer (also Multilingual/other corpora in the same layout).

Layout of one split folder (e.g. ``LibriSpeech/dev-clean``)::

    <spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <spk>/<chapter>/<spk>-<chapter>.trans.txt     lines "<utt id> <TRANSCRIPT>"

``src`` may be one split folder -> one manifest named after it (``dev-clean.jsonl``), or a root
holding several split folders (``LibriSpeech/``) -> one manifest per split. Speaker = ``<spk>``;
text normalized (lower case). ``.wav`` audio is accepted when no ``.flac`` exists. Get it from
https://www.openslr.org/12.
"""

from __future__ import annotations

from pathlib import Path

from speech.data.manifest import Utterance
from speech.data.prepare._common import audio_duration, cached, finish, listing_signature
from speech.text.normalize import normalize_asr_text

__all__ = ["prepare_librispeech"]


def _transcripts(split_dir: Path) -> list[Path]:
    return sorted(split_dir.glob("*/*/*.trans.txt"))


def _split_dirs(src: Path) -> dict[str, Path]:
    if _transcripts(src):
        return {src.name: src}
    return {d.name: d for d in sorted(p for p in src.iterdir() if p.is_dir()) if _transcripts(d)} if src.is_dir() else {}


def prepare_librispeech(src: str | Path, out_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write ``<split>.jsonl`` for each LibriSpeech split found under ``src``.

    Args:
        src: a split folder (``.../dev-clean``) or a folder holding split folders.
        out_dir: where the manifests and the ``.prepared.json`` stamp go.
        force: redo the work even if an earlier run's manifests are up to date.

    Returns:
        split name (the folder name, e.g. "dev-clean") -> manifest path.

    Raises:
        FileNotFoundError: when no ``<spk>/<chapter>/*.trans.txt`` is found.
    """
    src = Path(src).resolve()
    split_dirs = _split_dirs(src)
    if not split_dirs:
        raise FileNotFoundError(
            f"LibriSpeech not found at {src}: expected <split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt "
            f"and .flac files (src may be one split folder such as dev-clean, or their parent); "
            f"get it from https://www.openslr.org/12"
        )
    trans_files = {name: _transcripts(d) for name, d in split_dirs.items()}
    sig = listing_signature([t for ts in trans_files.values() for t in ts])
    if not force and (done := cached(out_dir, "librispeech", src, sig)) is not None:
        return done
    splits: dict[str, list[Utterance]] = {}
    for name, files in trans_files.items():
        utts = splits[name] = []
        for trans in files:
            speaker = trans.parent.parent.name
            for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                utt_id, _, raw = line.strip().partition(" ")
                path = trans.parent / f"{utt_id}.flac"
                if not path.exists() and (trans.parent / f"{utt_id}.wav").exists():
                    path = trans.parent / f"{utt_id}.wav"
                duration = audio_duration(path, where=f" ({trans.name}:{lineno})")
                if duration is None:
                    continue
                utts.append(Utterance(id=utt_id, audio=str(path), duration=duration,
                                      text=normalize_asr_text(raw), speaker=speaker))
    return finish(out_dir, "librispeech", src, sig, splits)
