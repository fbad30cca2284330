"""Timed documents of a transcript: SubRip (.srt), WebVTT (.vtt) and whisper's TSV (.tsv), made of
cues grouped from word timestamps."""
from __future__ import annotations


def group_cues(words: list[dict], max_seconds: float = 5.0, max_words: int = 12, max_gap: float = 0.8) -> list[dict]:
    """Consecutive words -> cues {"start", "end", "text"}: a new cue starts after a pause longer than
    ``max_gap`` or when the cue would exceed ``max_seconds`` or ``max_words``."""
    cues: list[dict] = []
    for w in words:
        c = cues[-1] if cues else None
        if (c is None or w["start"] - c["end"] > max_gap or w["end"] - c["start"] > max_seconds
                or c["n"] >= max_words):
            cues.append({"start": w["start"], "end": w["end"], "text": w["word"], "n": 1})
        else:
            c["end"], c["text"], c["n"] = w["end"], c["text"] + " " + w["word"], c["n"] + 1
    return [{k: v for k, v in c.items() if k != "n"} for c in cues]


def transcript_cues(words: list[dict] | None, text: str, duration: float) -> list[dict]:
    """The cues of one transcript: its words grouped (:func:`group_cues`); a text without word times
    is one cue over the whole recording, and no text is no cue."""
    if words:
        return group_cues(words)
    return [{"start": 0.0, "end": float(duration), "text": text}] if text.strip() else []


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a tab or newline inside a cue would break the line-based formats


def to_srt(cues: list[dict]) -> str:
    return "".join(f"{i}\n{_stamp(c['start'], ',')} --> {_stamp(c['end'], ',')}\n{_one_line(c['text'])}\n\n"
                   for i, c in enumerate(cues, 1))


def to_vtt(cues: list[dict]) -> str:
    return "WEBVTT\n\n" + "".join(f"{_stamp(c['start'], '.')} --> {_stamp(c['end'], '.')}\n{_one_line(c['text'])}\n\n"
                                  for c in cues)


def to_tsv(cues: list[dict]) -> str:
    """whisper's TSV: a ``start<TAB>end<TAB>text`` header, then one cue per line with its start and
    end in whole milliseconds."""
    rows = (f"{int(round(max(c['start'], 0.0) * 1000))}\t{int(round(max(c['end'], 0.0) * 1000))}\t"
            f"{_one_line(c['text'])}\n" for c in cues)
    return "start\tend\ttext\n" + "".join(rows)
