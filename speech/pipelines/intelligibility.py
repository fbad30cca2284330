"""How intelligible are several voices on the same texts: one recognizer, one run, one table.

:func:`compare_intelligibility` gives every text to every system (our voice, CMU Flite, the real
recordings where a corpus has them), transcribes each result with one independent recognizer
(:class:`speech.pipelines.evaluate_tts.PocketSphinxRecognizer` by default) and reports each
system's corpus WER against the same reference words. A recognizer's absolute WER says as much
about the recognizer as about the voice; the rows of one run are comparable with each other.

Systems are objects with a ``name`` and ``synthesize(item) -> (wav, sr)``:

* :class:`VoiceSystem`: a toolkit voice (a :class:`~speech.pipelines.synthesizer.Synthesizer`);
* :class:`FliteSystem`: CMU Flite's command-line synthesizer (``apt-get install flite``), e.g. its
  ``slt`` voice, the plain reference most English TTS users know;
* :class:`RecordingSystem`: the corpus's own recording of the text, the ceiling for the recognizer.

Each system reads the text as written (``TextItem.text``: numbers, abbreviations, punctuation), so
the frontends are part of what is measured; the reference (``TextItem.reference``) is the words a
reader says, e.g. LJSpeech's normalized column.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from speech.audio.io import load, save
from speech.decoding.metrics import error_stats
from speech.fileio import atomic_write_text
from speech.pipelines.evaluate_tts import resolve_recognizer
from speech.text.normalize import normalize_asr_text

__all__ = ["FliteSystem", "RecordingSystem", "TextItem", "VoiceSystem", "compare_intelligibility",
           "format_table"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextItem:
    """One sentence: ``text`` is what each system reads, ``reference`` the words a reader says
    (scored after :func:`speech.text.normalize.normalize_asr_text`), ``audio`` an optional real
    recording of it."""

    id: str
    text: str
    reference: str
    audio: str | None = None


class VoiceSystem:
    """A toolkit voice: ``synth`` is a :class:`~speech.pipelines.synthesizer.Synthesizer` (or the
    ONNX runtime's), which reads the raw text through its own frontend."""

    def __init__(self, synth: Any, name: str = "speech"):
        self.synth, self.name = synth, name

    def synthesize(self, item: TextItem) -> tuple[np.ndarray, int]:
        res = self.synth.synthesize(item.text)
        return np.asarray(res.wav, np.float32), int(res.sample_rate)


class FliteSystem:
    """CMU Flite (``flite -voice VOICE -t TEXT -o out.wav``).

    Args:
        voice: a voice built into the binary (``flite -lv`` lists them), e.g. ``slt`` or ``kal``.
        binary: the flite executable (default: ``flite`` on the PATH).
        settings: flite feature values passed as ``--setf NAME=VALUE``, e.g.
            ``{"int_f0_target_mean": 110, "duration_stretch": 1.2}`` (mean pitch in Hz, slower speech).

    Raises:
        FileNotFoundError: no flite binary (one line saying how to install it).
        ValueError: the binary lacks ``voice``, or a setting is not a number.
    """

    def __init__(self, voice: str = "slt", binary: str | None = None, timeout: float = 120.0,
                 settings: Mapping[str, float] | None = None):
        exe = shutil.which(binary or "flite")
        if exe is None:
            raise FileNotFoundError(f"{binary or 'flite'}: no such program; install CMU Flite "
                                    "(Debian/Ubuntu: apt-get install flite)")
        listed = subprocess.run([exe, "-lv"], capture_output=True, text=True, timeout=timeout)
        voices = listed.stdout.replace("Voices available:", "").split()
        if voice not in voices:
            raise ValueError(f"flite voice {voice!r} is not built into {exe}; it has: {', '.join(voices) or 'none'}")
        self.settings: list[str] = []
        for key, value in (settings or {}).items():
            if not key.replace("_", "").isalnum() or isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise ValueError(f"flite setting {key}={value!r}; expected a feature name and a finite number")
            self.settings += ["--setf", f"{key}={value:g}"]
        self.exe, self.voice, self.timeout = exe, voice, timeout
        self.name = f"flite {voice}"

    def synthesize(self, item: TextItem) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
            out = Path(tmp) / "out.wav"
            # "-t" takes the next argument as text even when it starts with "-"
            run = subprocess.run([self.exe, "-voice", self.voice, *self.settings, "-t", item.text, "-o", str(out)],
                                 capture_output=True, text=True, timeout=self.timeout)
            if run.returncode != 0 or not out.is_file():
                msg = (run.stderr or run.stdout).strip().splitlines()
                raise RuntimeError(f"flite exited with {run.returncode}: {msg[-1] if msg else 'no output'}")
            wav, sr = load(out)
        return np.asarray(wav, np.float32), int(sr)


class RecordingSystem:
    """The real recording of each text (``TextItem.audio``), read as it is."""

    name = "recordings"

    def synthesize(self, item: TextItem) -> tuple[np.ndarray, int]:
        if not item.audio:
            raise ValueError("no recording of this text")
        wav, sr = load(item.audio)
        return np.asarray(wav, np.float32), int(sr)


def _wav_name(system: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in system)


def compare_intelligibility(items: Sequence[TextItem], systems: Sequence[Any], recognizer: Any = "auto",
                            out_dir: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Every system reads every text; one recognizer transcribes all of it.

    Args:
        items: the sentences (unique ids).
        systems: objects with ``name`` (unique) and ``synthesize(item) -> (wav, sr)``.
        recognizer: ``"auto"`` (PocketSphinx) or anything with ``transcribe(wav, sr) -> str``.
        out_dir: where ``intelligibility.json``, ``intelligibility.md`` and
            ``wavs/<system>/<id>.wav`` go; ``None`` writes nothing.

    Returns:
        ``{"sentences", "reference_words", "recognizer", "systems": [{"name", "wer", "errors",
        "words", "substitutions", "deletions", "insertions", "failed", "audio_seconds",
        "synth_seconds", "rtf"}], "rows": [{"id", "text", "reference", "<system>": hyp, ...}]}``.
        A text a system fails on (an error raised by ``synthesize``) is logged, listed under
        ``failed`` and scored as an empty hypothesis (all its words deleted), so no system gains by
        skipping what it cannot read.

    Raises:
        ValueError: no items, no systems, repeated ids or names, or no recognizer.
    """
    from tqdm.auto import tqdm

    items, systems = list(items), list(systems)
    if not items or not systems:
        raise ValueError(f"compare_intelligibility: {len(items)} texts and {len(systems)} systems; expected at least one of each")
    for what, keys in (("text id", [i.id for i in items]), ("system name", [s.name for s in systems])):
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is not None:
            raise ValueError(f"compare_intelligibility: {what} {dup!r} repeats")
    rec = resolve_recognizer(recognizer)
    if rec is None:
        raise ValueError("compare_intelligibility needs a recognizer (pip install 'speech[eval]' for PocketSphinx)")
    out = Path(out_dir) if out_dir is not None else None
    refs = [normalize_asr_text(i.reference) for i in items]
    rows = [{"id": i.id, "text": i.text, "reference": r} for i, r in zip(items, refs)]
    summary = []
    for system in systems:
        hyps, failed, audio_s, synth_s = [], [], 0.0, 0.0
        for item, row in zip(tqdm(items, unit="text", desc=system.name, disable=not progress), rows):
            t0 = time.perf_counter()
            try:
                wav, sr = system.synthesize(item)
            except Exception as e:  # one bad text must not end the comparison; it counts as all wrong
                log.warning("%s: %s: %s", system.name, item.id, e)
                failed.append(item.id)
                hyps.append("")
                row[system.name] = None
                continue
            synth_s += time.perf_counter() - t0
            audio_s += len(wav) / sr
            if out is not None:
                save(out / "wavs" / _wav_name(system.name) / f"{item.id}.wav", wav, sr)
            hyp = normalize_asr_text(rec.transcribe(wav, sr))
            hyps.append(hyp)
            row[system.name] = hyp
        st = error_stats(refs, hyps)
        summary.append({"name": system.name, "wer": st.rate, "errors": st.errors, "words": st.reference_length,
                        "substitutions": st.substitutions, "deletions": st.deletions,
                        "insertions": st.insertions, "failed": failed, "audio_seconds": audio_s,
                        "synth_seconds": synth_s, "rtf": synth_s / audio_s if audio_s else math.nan})
    result = {"sentences": len(items), "reference_words": sum(len(r.split()) for r in refs),
              "recognizer": type(rec).__name__, "systems": summary, "rows": rows}
    if out is not None:
        atomic_write_text(out / "intelligibility.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(out / "intelligibility.md", format_table(result) + "\n")
    return result


def format_table(result: Mapping[str, Any]) -> str:
    """:func:`compare_intelligibility`'s result as a markdown table, one row per system."""
    lines = ["| system | recognizer WER | errors / words (sub, del, ins) | texts failed | synthesis RTF |",
             "|---|---|---|---|---|"]
    for s in result["systems"]:
        rtf = "" if s["name"] == "recordings" or not math.isfinite(s["rtf"]) else f"{s['rtf']:.3f}"
        lines.append(f"| {s['name']} | {100 * s['wer']:.1f}% | {s['errors']} / {s['words']} "
                     f"({s['substitutions']}, {s['deletions']}, {s['insertions']}) | {len(s['failed'])} | {rtf} |")
    return "\n".join(lines)
