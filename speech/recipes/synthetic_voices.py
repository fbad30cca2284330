"""Synthetic speakers for a small vocabulary: each word read by CMU Flite's voices at several pitches and rates.

A recognizer of ten digit words trained on a handful of real voices learns those voices. Flite's
built-in voices (four speakers: ``kal``/``kal16`` are the same man through two synthesis methods, ``awb``
a Scottish man, ``rms`` an American man, ``slt`` an American woman) read each word at three mean
pitches and three speaking rates, so every word comes in many more pitch/rate combinations than the
corpus has. Each (voice, pitch) pair is a speaker of its own in the manifest. Clips are trimmed to
their speech (Flite leaves silence on both ends; corpora of isolated words, like FSDD, are cut close)
and written at the corpus's rate.

    utts = flite_word_utterances(["zero", "one", ...], "exp/fsdd/flite", sample_rate=8000)
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from speech.audio import info, load, resample, save
from speech.data.manifest import Utterance
from speech.pipelines.intelligibility import FliteSystem, TextItem

log = logging.getLogger(__name__)

FLITE_VOICES: Mapping[str, tuple[float, ...]] = {
    "kal": (85.0, 110.0, 140.0),
    "kal16": (95.0, 125.0, 160.0),
    "awb": (85.0, 110.0, 140.0),
    "rms": (80.0, 105.0, 135.0),
    "slt": (150.0, 190.0, 240.0),
}
"""Each voice's mean pitches in Hz (flite's ``int_f0_target_mean``): low, typical, high for its sex."""

RATES: tuple[float, ...] = (0.8, 1.0, 1.25)
"""flite's ``duration_stretch``: faster, as built, slower."""


def trim_silence(wav: np.ndarray, sr: int, threshold_db: float = 35.0, margin: float = 0.03) -> np.ndarray:
    """The span of ``wav`` whose 10 ms frames are within ``threshold_db`` of the loudest, plus
    ``margin`` seconds each side; the input as it is when it has no energy."""
    hop = max(1, sr // 100)
    n = len(wav) // hop
    if n == 0:
        return wav
    energy = (wav[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(1)
    if energy.max() <= 0:
        return wav
    loud = np.flatnonzero(10 * np.log10(energy / energy.max() + 1e-20) > -threshold_db)
    pad = int(margin * sr)
    return wav[max(0, loud[0] * hop - pad): min(len(wav), (loud[-1] + 1) * hop + pad)]


def flite_word_utterances(words: Sequence[str], out_dir: str | Path, *, sample_rate: int,
                          voices: Mapping[str, Sequence[float]] | None = None, rates: Sequence[float] = RATES,
                          binary: str | None = None, progress: bool = True) -> list[Utterance]:
    """Every word of ``words`` read by every (voice, pitch, rate) of Flite, written as
    ``out_dir/flite-<voice>-<pitch>-<rate>-<word>.wav`` (a clip already there is reused).

    Args:
        words: the texts to read, e.g. the ten digit words; each is the utterance's transcript.
        out_dir: where the clips go.
        sample_rate: the rate the clips are written at (the corpus's).
        voices: voice name -> mean pitches in Hz (default :data:`FLITE_VOICES`).
        rates: flite ``duration_stretch`` values (default :data:`RATES`).
        binary: the flite executable (default ``flite`` on the PATH).

    Returns:
        One :class:`Utterance` a clip, speaker ``flite-<voice>-<pitch>``.

    Raises:
        FileNotFoundError: no flite binary (one line saying how to install it).
        ValueError: a voice the binary lacks, or a pitch / rate that is not positive.
    """
    voices = dict(FLITE_VOICES if voices is None else voices)
    bad = [f"{v}: {p}" for v, ps in voices.items() for p in ps if not p > 0] + [f"rate {r}" for r in rates if not r > 0]
    if bad:
        raise ValueError(f"flite voices: {', '.join(bad)}; pitches (Hz) and rates must be > 0")
    out = Path(out_dir)
    jobs = [(v, p, r, w) for v, ps in voices.items() for p in ps for r in rates for w in words]
    systems: dict[tuple[str, float, float], FliteSystem] = {}
    utts = []
    for voice, pitch, rate, word in tqdm(jobs, desc="flite voices", unit="clip", disable=not progress, leave=False):
        uid = f"flite-{voice}-{pitch:g}-{rate:g}-{'_'.join(word.split())}"
        path = out / f"{uid}.wav"
        if not path.is_file():
            key = (voice, pitch, rate)
            if key not in systems:
                systems[key] = FliteSystem(voice, binary=binary,
                                           settings={"int_f0_target_mean": pitch, "duration_stretch": rate})
            wav, sr = systems[key].synthesize(TextItem(uid, word, word))
            wav = trim_silence(np.asarray(wav, np.float32), sr)
            save(path, resample(wav, sr, sample_rate), sample_rate)
        utts.append(Utterance(id=uid, audio=str(path.resolve()), duration=info(path).duration, text=word,
                              speaker=f"flite-{voice}-{pitch:g}"))
    log.info("flite voices: %d clips (%d voices x pitches, %d rates, %d words) in %s", len(utts),
             sum(len(p) for p in voices.values()), len(rates), len(words), out)
    return utts


ESPEAK_ACCENTS: tuple[str, ...] = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                                   "en-gb-x-gbcwmd", "en-029")
"""eSpeak NG's English accents (``espeak-ng --voices=en``): American, British, Scottish, RP, Lancaster,
West Midlands, Caribbean; each reads the digit words with its own vowels."""

ESPEAK_VARIANTS: tuple[str, ...] = ("m1", "m3", "m7", "f2", "f4", "klatt")
"""eSpeak NG voice variants: each its own formant frequencies, pitch and voice quality (male, female,
and the Klatt source model)."""

ESPEAK_RATES: tuple[int, ...] = (130, 175, 230)
"""Speaking rates in words per minute (``espeak-ng -s``): slow, the default, fast."""


def espeak_word_utterances(words: Sequence[str], out_dir: str | Path, *, sample_rate: int,
                           accents: Sequence[str] = ESPEAK_ACCENTS, variants: Sequence[str] = ESPEAK_VARIANTS,
                           rates: Sequence[int] = ESPEAK_RATES, binary: str | None = None,
                           progress: bool = True) -> list[Utterance]:
    """Every word of ``words`` read by eSpeak NG in every (accent, variant, rate), written as
    ``out_dir/espeak-<accent>-<variant>-<rate>-<word>.wav`` (a clip already there is reused). eSpeak is a
    formant synthesizer: robotic, but its accents say the digits with other vowels than Flite's voices,
    and its variants move the formants as other vocal tracts do.

    Returns:
        One :class:`Utterance` a clip, speaker ``espeak-<accent>-<variant>``.

    Raises:
        FileNotFoundError: no espeak-ng binary (one line saying how to install it).
        ValueError: an accent or variant name that is not a plain name or that the binary lacks, or a
            rate outside 80-450.
    """
    exe = shutil.which(binary or "espeak-ng")
    if exe is None:
        raise FileNotFoundError(f"{binary or 'espeak-ng'}: no such program; install eSpeak NG "
                                "(Debian/Ubuntu: apt-get install espeak-ng)")
    bad = [n for n in (*accents, *variants) if not n.replace("-", "").isalnum()]
    bad += [f"rate {r}" for r in rates if not 80 <= r <= 450]
    if bad:
        raise ValueError(f"espeak voices: {', '.join(map(str, bad))}; expected plain voice names and rates of 80-450 "
                         "words per minute")
    known = {}
    for kind in ("en", "variant"):  # espeak-ng falls back to its default voice for a name it lacks: ask first
        listed = subprocess.run([exe, f"--voices={kind}"], capture_output=True, text=True, timeout=60).stdout
        # columns: priority, language, age/gender, name, file (a variant's file is !v/<name>)
        rows = [line.split() for line in listed.splitlines()[1:] if len(line.split()) >= 5]
        known[kind] = {r[1] for r in rows} if kind == "en" else {r[4].split("/")[-1] for r in rows}
    missing = [f"accent {a}" for a in accents if a not in known["en"]]
    missing += [f"variant {v}" for v in variants if v not in known["variant"]]
    if missing:
        raise ValueError(f"espeak voices: {', '.join(missing)} unknown to {exe} (espeak-ng --voices=en, "
                         "--voices=variant list them)")
    out = Path(out_dir)
    jobs = [(a, v, r, w) for a in accents for v in variants for r in rates for w in words]
    utts = []
    with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
        raw = Path(tmp) / "out.wav"
        for accent, variant, rate, word in tqdm(jobs, desc="espeak voices", unit="clip", disable=not progress,
                                                leave=False):
            uid = f"espeak-{accent}-{variant}-{rate}-{'_'.join(word.split())}"
            path = out / f"{uid}.wav"
            if not path.is_file():
                raw.unlink(missing_ok=True)  # a clip espeak failed to write must not be the last one's
                run = subprocess.run([exe, "-v", f"{accent}+{variant}", "-s", str(rate), "-w", str(raw), "--", word],
                                     capture_output=True, text=True, timeout=60)
                if run.returncode != 0 or not raw.is_file() or run.stderr.strip():
                    msg = (run.stderr or run.stdout).strip().splitlines()
                    raise ValueError(f"espeak-ng -v {accent}+{variant}: {msg[0] if msg else 'no audio written'}")
                wav, _ = load(raw, sample_rate)
                save(path, trim_silence(wav, sample_rate), sample_rate)
            utts.append(Utterance(id=uid, audio=str(path.resolve()), duration=info(path).duration, text=word,
                                  speaker=f"espeak-{accent}-{variant}"))
    log.info("espeak voices: %d clips (%d accents x %d variants, %d rates, %d words) in %s", len(utts), len(accents),
             len(variants), len(rates), len(words), out)
    return utts
