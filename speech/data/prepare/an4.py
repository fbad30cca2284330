"""CMU AN4 (census / alphanumeric) importer.

Layout (CMU's release)::

    etc/an4_train.transcription   lines "<s> U M N Y H SIX </s> (an255-fash-b)"
    etc/an4_test.transcription    (the test file ships without <s> </s>: both forms are accepted)
    wav/an4_clstk/<spk>/<utt>.flac      train audio (.wav and .sph accepted too)
    wav/an4test_clstk/<spk>/<utt>.flac  test audio

Splits "train" (948 utts) and "test" (130 utts); speaker = the audio's folder name; text =
the transcription, normalized (lower case). Get AN4 from
http://www.speech.cs.cmu.edu/databases/an4/ (an4_sphere.tar.gz).
"""

from __future__ import annotations

import re
from pathlib import Path

from speech.data.manifest import Utterance
from speech.data.prepare._common import audio_duration, cached, finish, listing_signature, log
from speech.text.normalize import normalize_asr_text

__all__ = ["prepare_an4"]

_SPLITS = {"train": "an4_clstk", "test": "an4test_clstk"}
_EXTS = (".flac", ".wav", ".sph")  # preference order when several exist
_LINE = re.compile(r"^\s*(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(\s*([^()\s]+)\s*\)\s*$")


def _audio_index(folder: Path) -> dict[str, Path]:
    """utt id -> audio path for ``folder/<spk>/<utt>.<ext>``."""
    index: dict[str, Path] = {}
    if not folder.is_dir():
        return index
    for spk in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in spk.iterdir():
            ext = f.suffix.lower()
            if ext in _EXTS:
                old = index.get(f.stem)
                if old is None or _EXTS.index(ext) < _EXTS.index(old.suffix.lower()):
                    index[f.stem] = f
    return index


def prepare_an4(src: str | Path, out_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write ``train.jsonl`` and ``test.jsonl`` for AN4.

    Args:
        src: the AN4 root (holding ``etc/`` and ``wav/``).
        out_dir: where the manifests and the ``.prepared.json`` stamp go.
        force: redo the work even if an earlier run's manifests are up to date.

    Returns:
        ``{"train": ..., "test": ...}`` manifest paths.

    Raises:
        FileNotFoundError: when the transcription files or audio folders are missing.
    """
    src = Path(src).resolve()
    trans = {s: src / "etc" / f"an4_{s}.transcription" for s in _SPLITS}
    wav = {s: src / "wav" / d for s, d in _SPLITS.items()}
    if not all(p.is_file() for p in trans.values()) or not all(p.is_dir() for p in wav.values()):
        raise FileNotFoundError(
            f"AN4 not found at {src}: expected etc/an4_{{train,test}}.transcription and "
            f"wav/{{an4_clstk,an4test_clstk}}/<spk>/<utt>.flac|.wav|.sph; get it from "
            f"http://www.speech.cs.cmu.edu/databases/an4/ (an4_sphere.tar.gz)"
        )
    sig = listing_signature([*trans.values(), *wav.values()])
    if not force and (done := cached(out_dir, "an4", src, sig)) is not None:
        return done
    splits: dict[str, list[Utterance]] = {}
    for split in _SPLITS:
        audio = _audio_index(wav[split])
        utts = splits[split] = []
        lines = trans[split].read_text(encoding="utf-8", errors="replace").splitlines()
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            m = _LINE.match(line)
            if not m:
                log.warning("skipping %s:%d: expected '<s> WORDS </s> (utt-id)', got %r", trans[split], lineno, line)
                continue
            raw, utt_id = m.group(1), m.group(2)
            path = audio.get(utt_id)
            if path is None:
                log.warning("skipping %s (%s:%d): audio file is missing", wav[split] / "*" / f"{utt_id}.flac",
                            trans[split].name, lineno)
                continue
            duration = audio_duration(path)
            if duration is None:
                continue
            utts.append(Utterance(id=utt_id, audio=str(path), duration=duration,
                                  text=normalize_asr_text(raw), speaker=path.parent.name))
    return finish(out_dir, "an4", src, sig, splits)
