"""Free Spoken Digit Dataset (FSDD) importer.

Layout: ``recordings/{digit}_{speaker}_{index}.wav`` (8 kHz mono). Official split, following the
dataset's README: ``index`` 0-4 -> "test", 5 and above (5-49 in the release) -> "train".
Text = the digit's word ("zero".."nine"), speaker from the file name, id = file stem.
Get it from https://github.com/Jakobovski/free-spoken-digit-dataset (folder ``recordings/``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from speech.data.manifest import Utterance
from speech.data.prepare._common import audio_duration, cached, finish, listing_signature, log
from speech.text.normalize import number_to_words

__all__ = ["prepare_fsdd"]

_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)\.wav$", re.IGNORECASE)


def _recordings_dir(src: Path) -> Path:
    for cand in (src / "recordings", src):
        if cand.is_dir() and any(_NAME.match(n) for n in os.listdir(cand)):
            return cand
    raise FileNotFoundError(
        f"FSDD not found at {src}: expected {src}/recordings/{{digit}}_{{speaker}}_{{index}}.wav "
        f"(or that recordings folder itself); get it from https://github.com/Jakobovski/free-spoken-digit-dataset"
    )


def prepare_fsdd(src: str | Path, out_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write ``train.jsonl`` (index 5-49, 2700 utts) and ``test.jsonl`` (index 0-4, 300 utts).

    Args:
        src: the FSDD checkout (holding ``recordings/``) or the ``recordings`` folder itself.
        out_dir: where the manifests and the ``.prepared.json`` stamp go.
        force: redo the work even if an earlier run's manifests are up to date.

    Returns:
        ``{"train": out_dir/train.jsonl, "test": out_dir/test.jsonl}``.

    Raises:
        FileNotFoundError: when ``src`` holds no FSDD recordings.
    """
    rec = _recordings_dir(Path(src).resolve())
    sig = listing_signature([rec])
    if not force and (done := cached(out_dir, "fsdd", rec, sig)) is not None:
        return done
    splits: dict[str, list[Utterance]] = {"train": [], "test": []}
    for name in sorted(os.listdir(rec)):
        m = _NAME.match(name)
        if not m:
            if name.lower().endswith(".wav"):
                log.warning("skipping %s: name is not {digit}_{speaker}_{index}.wav", rec / name)
            continue
        digit, speaker, index = int(m.group(1)), m.group(2), int(m.group(3))
        path = rec / name
        duration = audio_duration(path)
        if duration is None:
            continue
        split = "test" if index < 5 else "train"
        splits[split].append(Utterance(id=path.stem, audio=str(path), duration=duration,
                                       text=number_to_words(digit), speaker=speaker))
    return finish(out_dir, "fsdd", rec, sig, splits)
