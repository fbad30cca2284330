"""Isolated-word clips cut out of connected speech by forced alignment.

A corpus of isolated words (FSDD's digits) has few voices; a corpus of connected speech (AN4's digit
strings, phone numbers and zip codes from 74 speakers) has many voices saying the same words inside
longer utterances. Aligning each transcript to its recording with a CTC model gives every word's span;
each wanted word is cut out with a little of the silence or coarticulation around it (never past the
midpoint to its neighbour's span) and written as a clip of its own at the isolated-word corpus's rate.

    utts = word_clips(resolve_model("an4"), an4_train_utts, FSDD_WORDS, "exp/fsdd/an4_words", sample_rate=8000)
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

from tqdm.auto import tqdm

from speech.audio import AudioError, load, save
from speech.data.manifest import Utterance, read_manifest, write_manifest
from speech.packages.asr import AsrPackage, load_asr_package
from speech.pipelines.alignment import align_audio

log = logging.getLogger(__name__)

INDEX = "clips.jsonl"
"""The manifest of the clips (the cache that a second call reads back)."""


def clip_bounds(spans: Sequence[tuple[float, float]], i: int, margin: float, duration: float) -> tuple[float, float]:
    """The cut (start, end) in seconds for word ``i`` of the word ``spans`` (start, end) of one recording:
    the span widened by ``margin`` each side, but never past the midpoint of the gap to the previous or
    next word's span, nor outside ``[0, duration]``."""
    start, end = spans[i]
    lo = 0.0 if i == 0 else (spans[i - 1][1] + start) / 2
    hi = duration if i + 1 == len(spans) else (end + spans[i + 1][0]) / 2
    return max(lo, start - margin, 0.0), min(hi, end + margin, duration)


def word_clips(package: str | Path | AsrPackage, utts: Iterable[Utterance], words: Sequence[str],
               out_dir: str | Path, *, sample_rate: int, margin: float = 0.08, progress: bool = True) -> list[Utterance]:
    """Every occurrence of a word of ``words`` in ``utts``, cut out as its own clip.

    Args:
        package: the CTC model (a package folder or a loaded one) that aligns the transcripts; its
            vocabulary must cover them.
        utts: the utterances (audio and normalized transcript, speaker kept).
        words: the words to cut out; the others stay in the recordings.
        out_dir: clips go to ``out_dir/<utt id>-<word index>-<word>.wav``, listed in ``out_dir/clips.jsonl``;
            when that manifest exists it is read back instead of aligning again.
        sample_rate: the rate the clips are written at.
        margin: seconds of context each side of the aligned span (CTC spans are tight: a character is
            emitted near its sound's start, so the last sound of a word runs past its span).

    Returns:
        One :class:`Utterance` a clip, its text the word and its speaker the recording's.
        Recordings that cannot be read or aligned are logged and skipped.
    """
    out = Path(out_dir)
    index = out / INDEX
    if index.is_file():
        return read_manifest(index)
    pkg = package if isinstance(package, AsrPackage) else load_asr_package(package)
    wanted = set(words)
    out.mkdir(parents=True, exist_ok=True)
    clips: list[Utterance] = []
    skipped = 0
    for u in tqdm(list(utts), desc="word clips", unit="utt", disable=not progress, leave=False):
        if not wanted & set(u.text.split()):
            continue
        if u.start is not None or u.end is not None:
            log.warning("word clips: skipping %s: a segment of %s (whole recordings only)", u.id, u.audio)
            skipped += 1
            continue
        try:
            spans, _, _ = align_audio(pkg, u.audio, u.text)
            wav, _ = load(u.audio, sample_rate)
        except (AudioError, ValueError) as e:
            log.warning("word clips: skipping %s: %s", u.id, str(e).splitlines()[0])
            skipped += 1
            continue
        duration = len(wav) / sample_rate
        bounds = [(s.start, s.end) for s in spans]
        for i, s in enumerate(spans):
            if s.label not in wanted:
                continue
            a, b = clip_bounds(bounds, i, margin, duration)
            seg = wav[int(round(a * sample_rate)): int(round(b * sample_rate))]
            if len(seg) < sample_rate // 20:  # under 50 ms: an alignment too squeezed to be the word
                continue
            uid = f"{u.id}-{i}-{s.label}"
            path = out / f"{uid}.wav"
            save(path, seg, sample_rate)
            clips.append(Utterance(id=uid, audio=str(path.resolve()), duration=len(seg) / sample_rate, text=s.label,
                                   speaker=u.speaker))
    write_manifest(index, clips)  # atomically: an interrupted run leaves no half list to read back
    log.info("word clips: %d clips of %d words from %s utterances in %s (%d skipped)", len(clips), len(wanted),
             len({c.id.rsplit('-', 2)[0] for c in clips}), out, skipped)
    return clips
