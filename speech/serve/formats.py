"""Transcription responses in the formats of OpenAI's audio API: ``json`` ({"text"}), ``text``,
``srt``, ``vtt`` and ``verbose_json`` (duration, segments and word timestamps)."""
from __future__ import annotations

from speech.pipelines.subtitles import to_srt, to_vtt, transcript_cues
from speech.runtime.transcribe import Transcript

TRANSCRIPTION_FORMATS = {"json": "application/json", "text": "text/plain; charset=utf-8",
                         "srt": "application/x-subrip; charset=utf-8", "vtt": "text/vtt; charset=utf-8",
                         "verbose_json": "application/json"}
TIMED_FORMATS = ("srt", "vtt", "verbose_json")
"""Formats that need word times (the recognizer aligns its output for them)."""


def segments_of(t: Transcript) -> list[dict]:
    """verbose_json's segments: the pieces a long recording was cut into, else the whole recording as one."""
    pieces = [(s.start, s.end, s.text) for s in t.segments if s.text] if t.segments else \
        ([(0.0, t.duration, t.text)] if t.text else [])
    return [{"id": i, "seek": 0, "start": round(a, 3), "end": round(b, 3), "text": text, "tokens": [],
             "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0, "no_speech_prob": 0.0}
            for i, (a, b, text) in enumerate(pieces)]


def transcription_body(t: Transcript, fmt: str) -> str | dict:
    """A transcript as the response of ``response_format=fmt``: a dict (JSON) or text."""
    if fmt == "json":
        body = {"text": t.text}
        if t.warnings:
            body["warnings"] = list(t.warnings)
        return body
    if fmt == "text":
        return t.text + "\n"
    if fmt in ("srt", "vtt"):
        cues = transcript_cues(t.words, t.text, t.duration)
        return to_srt(cues) if fmt == "srt" else to_vtt(cues)
    words = [{"word": w["word"], "start": w["start"], "end": w["end"], "probability": w.get("confidence")}
             for w in (t.words or [])]
    return {"task": "transcribe", "language": "english", "duration": round(t.duration, 3), "text": t.text,
            "segments": segments_of(t), "words": words, "warnings": list(t.warnings)}
