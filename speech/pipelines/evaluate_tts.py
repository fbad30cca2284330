"""Evaluate synthesized speech: per-utterance scores, the intelligibility check and whole voices.

* :func:`evaluate_synthesis` scores (real, synthesized) pairs with the signal measures of
  :mod:`speech.features.quality` (MCD, F0 RMSE, voicing error), the real-time factor and, with a
  recognizer, the word error rate of an independent recognizer (:class:`PocketSphinxRecognizer`, CMU
  PocketSphinx with its bundled US-English model; ``pip install 'speech[eval]'``) on the real vs the
  synthesized audio (:func:`recognizer_wer`). The recognizer is weak (its WER on clean real speech is
  already well above zero), so only the difference between the two numbers is meaningful.
* :func:`evaluate_voice` synthesizes the held-out prompts of a voice package's corpus and scores
  them (``speech evaluate-tts``); :func:`evaluate_copy_synthesis` does the same for a vocoder on the
  real recordings' mels.


:func:`evaluate_voice` synthesizes the text of each held-out utterance with a
:class:`~speech.pipelines.synthesizer.Synthesizer`, loads the real recording at the package's sample
rate, and scores the pair with :func:`speech.pipelines.evaluate_tts.evaluate_synthesis` (MCD, F0 RMSE, voicing
error, real-time factor and, with a recognizer, the intelligibility WER of an independent
recognizer on the real vs the synthesized audio). The report (``tts_eval.json``,
``tts_eval.tsv``) and the synthesized audio (``wavs/<id>.wav``) go to ``out_dir``.

Which utterances: ``ids`` when given, else the package's held-out ``test_ids`` (``meta.json``,
written by training), else the held-out side of :func:`speech.data.prepare.tts_corpus.split_heldout` at 5 %.
"""
from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from speech.audio.io import load, resample, save
from speech.data.prepare.tts_corpus import read_tts_corpus, split_heldout
from speech.decoding.metrics import error_stats
from speech.features import tts_fbank
from speech.features.functional import log_mel
from speech.features.quality import (  # the measures themselves, re-exported (see __all__)
    MCD_CONST,
    _aligned_cepstra,
    _check_sr,
    _check_wav,
    _f0_from_path,
    _trim,
    analysis_config,
    dtw_path,
    f0_metrics,
    mcd_dtw,
    mcd_from_cepstra,
    mcd_world,
    mel_cepstrum,
)
from speech.fileio import atomic_write_text
from speech.models.vocoders.base import Vocoder
from speech.packages.vocoder import load_vocoder
from speech.packages.voice import TtsPackage, load_tts_package
from speech.pipelines.synthesizer import Synthesizer
from speech.text.normalize import normalize_asr_text

__all__ = [
    "MCD_CONST",
    "PocketSphinxRecognizer",
    "SynthesisItem",
    "analysis_config",
    "dtw_path",
    "evaluate_synthesis",
    "f0_metrics",
    "mcd_dtw",
    "mcd_world",
    "mel_cepstrum",
    "recognizer_wer",
    "resolve_recognizer",
    "write_report",
]


_MISSING_PS = "pocketsphinx is not installed: pip install 'speech[eval]' (or pip install pocketsphinx)"


# --------------------------------------------------------------------------------------------- input


# ------------------------------------------------------------------------------------ mel cepstra


# ------------------------------------------------------------------------------------ recognizer

class PocketSphinxRecognizer:
    """Independent English recognizer: CMU PocketSphinx 5 with its bundled US-English model.

    Needs the optional ``eval`` extra (``pip install 'speech[eval]'``). Each call decodes one whole
    utterance with a fresh decoder (no state carried between utterances, so results do not depend on
    the order); audio is resampled to 16 kHz and converted to 16-bit PCM.

    Args:
        **config: passed to ``pocketsphinx.Decoder`` (e.g. ``hmm=``, ``lm=``, ``dict=`` for another
            model); the default logs only errors.
    """

    SAMPLE_RATE = 16000

    def __init__(self, **config: Any):
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise ImportError(_MISSING_PS) from e
        config.setdefault("loglevel", "ERROR")
        self._config = config
        self._decoder_cls = Decoder
        self.sample_rate = int(Decoder(**config).config["samprate"])

    def transcribe(self, wav: np.ndarray, sr: int) -> str:
        """Best hypothesis for a mono float waveform ``wav`` (values in ``[-1, 1]``) at ``sr`` Hz.

        Returns the recognizer's words as it spells them (lower case, no punctuation); "" when it
        recognizes nothing.
        """

        x = _check_wav(wav, "wav").astype(np.float32)
        x = np.asarray(resample(x, _check_sr(sr), self.sample_rate))
        pcm = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        # A fresh decoder per utterance: PocketSphinx carries its cepstral-mean estimate from one
        # utterance to the next, so a reused decoder scores a recording differently depending on what
        # it heard before (measured: the same 10 recordings gave 32.4% vs 29.7% WER in two orders).
        d = self._decoder_cls(**self._config)
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        return " ".join(hyp.hypstr.split()) if hyp is not None else ""


def recognizer_wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus word error rate (total edits / total reference words) after normalizing both sides.

    Both references and hypotheses go through :func:`speech.text.normalize.normalize_asr_text`
    (lower case, punctuation dropped, numbers and symbols spelled out, e.g. "5" -> "five",
    "$5" -> "five dollars"), then :func:`speech.decoding.metrics.error_stats`. Abbreviations such
    as "Dr." are *not* expanded (they become "dr"). Returns a fraction (0.25 = 25 %).
    """
    refs, hyps = list(refs), list(hyps)
    if len(refs) != len(hyps):
        raise ValueError(f"recognizer_wer: {len(refs)} references but {len(hyps)} hypotheses")
    return error_stats([normalize_asr_text(r) for r in refs], [normalize_asr_text(h) for h in hyps]).rate


# ------------------------------------------------------------------------------------ evaluation

@dataclass
class SynthesisItem:
    """One held-out prompt: its text, the real recording and the synthesized one (same ``sr``, Hz),
    and the seconds it took to synthesize (for the real-time factor)."""

    id: str
    text: str
    ref_wav: np.ndarray
    syn_wav: np.ndarray
    sr: int
    synth_seconds: float


def _field(item: Any, name: str, i: int, default: Any = ...) -> Any:
    if isinstance(item, Mapping):
        if name in item:
            return item[name]
    elif hasattr(item, name):
        return getattr(item, name)
    if default is ...:
        raise ValueError(f"item {i}: missing field {name!r}")
    return default


def _item(item: Any, i: int) -> dict[str, Any]:
    uid = str(_field(item, "id", i))
    ref_sr, syn_sr = _field(item, "ref_sr", i, None), _field(item, "syn_sr", i, None)
    sr = _field(item, "sr", i, None)
    if ref_sr is not None or syn_sr is not None:
        ref_sr = ref_sr if ref_sr is not None else sr
        syn_sr = syn_sr if syn_sr is not None else sr
        if ref_sr != syn_sr:
            raise ValueError(f"item {uid!r}: sample-rate mismatch: ref_sr={ref_sr} but syn_sr={syn_sr}; "
                             "resample one of them first")
        sr = ref_sr
    if sr is None:
        raise ValueError(f"item {uid!r}: missing field 'sr'")
    try:
        sr = _check_sr(sr)
        ref = _check_wav(_field(item, "ref_wav", i), "ref_wav")
        syn = _check_wav(_field(item, "syn_wav", i), "syn_wav")
    except ValueError as e:
        raise ValueError(f"item {uid!r}: {e}") from None
    secs = _field(item, "synth_seconds", i)
    if (isinstance(secs, bool) or not isinstance(secs, (int, float, np.floating, np.integer))
            or not math.isfinite(secs) or secs < 0):
        raise ValueError(f"item {uid!r}: synth_seconds={secs!r}; expected a finite number >= 0")
    return {"id": uid, "text": str(_field(item, "text", i, "")), "ref": ref, "syn": syn, "sr": sr,
            "synth_seconds": float(secs)}


_WORLD_MISSING: list[str] = []


def _mcd_world(ref: np.ndarray, syn: np.ndarray, sr: int) -> float:
    """The standard (WORLD/SPTK) MCD of two trimmed signals, or NaN (warned once) without pyworld/pysptk."""
    try:
        return mcd_world(ref, syn, sr, trim=False)
    except ImportError as e:
        if not _WORLD_MISSING:
            _WORLD_MISSING.append(str(e))
            log.warning("%s; the WORLD MCD column is left empty", e)
        return math.nan


def _nanmean(values: list[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return float(np.mean(v)) if v else math.nan


def evaluate_synthesis(items: Iterable[SynthesisItem | Mapping[str, Any]],
                       recognizer: PocketSphinxRecognizer | None = None, trim: bool = True,
                       pitch_method: str = "pyin") -> dict[str, Any]:
    """Score synthesized held-out prompts against real recordings of the same prompts.

    Args:
        items: :class:`SynthesisItem` or mappings with ``id``, ``text``, ``ref_wav``, ``syn_wav``
            (mono float arrays), ``sr`` (Hz; or ``ref_sr`` and ``syn_sr``, which must be equal)
            and ``synth_seconds``.
        recognizer: anything with ``transcribe(wav, sr) -> str`` (e.g.
            :class:`PocketSphinxRecognizer`); ``None`` skips the intelligibility measures.
        trim, pitch_method: see :func:`mcd_dtw` and :func:`f0_metrics`.

    Returns:
        ``{"utterances", "mcd_db", "mcd_world_db", "f0_rmse_hz", "f0_rmse_cents", "vde", "f0_utterances",
        "synth_seconds", "audio_seconds", "rtf", ["wer_real", "wer_synth"], "rows"}``:
        unweighted means over utterances (F0 RMSE over the ``f0_utterances`` where it is defined),
        ``rtf = sum(synth_seconds) / sum(len(syn_wav) / sr)`` on the untrimmed synthesized audio,
        corpus WERs (fractions, :func:`recognizer_wer`) of the recognizer on the real and on the
        synthesized audio against ``text``, and one row per utterance with ``id``, ``text``,
        ``mcd_db`` (mel-filterbank MCD), ``mcd_world_db`` (the standard WORLD/SPTK MCD,
        :func:`speech.features.quality.mcd_world`; NaN without pyworld/pysptk), ``f0_rmse_hz``,
        ``f0_rmse_cents``, ``vde``, ``audio_seconds``, ``synth_seconds`` (and ``hyp_real``,
        ``hyp_synth`` with a recognizer).
    """
    parsed = [_item(it, i) for i, it in enumerate(items)]
    if not parsed:
        raise ValueError("evaluate_synthesis: no items")
    rows = []
    for it in parsed:
        ref, syn, sr = it["ref"], it["syn"], it["sr"]
        if trim:
            ref_t, syn_t = _trim(ref), _trim(syn)
        else:
            ref_t, syn_t = ref, syn
        cr, cs, ia, ib = _aligned_cepstra(ref_t, syn_t, sr, 24)
        row = {"id": it["id"], "text": it["text"], "mcd_db": mcd_from_cepstra(cr, cs, ia, ib),
               "mcd_world_db": _mcd_world(ref_t, syn_t, sr)}
        row.update(_f0_from_path(ref_t, syn_t, sr, ia, ib, pitch_method))
        row["audio_seconds"] = len(syn) / sr
        row["synth_seconds"] = it["synth_seconds"]
        if recognizer is not None:
            row["hyp_real"] = recognizer.transcribe(ref, sr)
            row["hyp_synth"] = recognizer.transcribe(syn, sr)
        rows.append(row)
    audio = sum(r["audio_seconds"] for r in rows)
    synth = sum(r["synth_seconds"] for r in rows)
    f0_hz = [r["f0_rmse_hz"] for r in rows]
    result: dict[str, Any] = {
        "utterances": len(rows),
        "mcd_db": float(np.mean([r["mcd_db"] for r in rows])),
        "mcd_world_db": _nanmean([r["mcd_world_db"] for r in rows]),
        "f0_rmse_hz": _nanmean(f0_hz),
        "f0_rmse_cents": _nanmean([r["f0_rmse_cents"] for r in rows]),
        "vde": float(np.mean([r["vde"] for r in rows])),
        "f0_utterances": sum(not math.isnan(x) for x in f0_hz),
        "synth_seconds": synth,
        "audio_seconds": audio,
        "rtf": synth / audio,
    }
    if recognizer is not None:
        texts = [r["text"] for r in rows]
        result["wer_real"] = recognizer_wer(texts, [r["hyp_real"] for r in rows])
        result["wer_synth"] = recognizer_wer(texts, [r["hyp_synth"] for r in rows])
    result["rows"] = rows
    return result


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        return _json_safe(x.item())
    return x


_TSV_COLUMNS = ("id", "mcd_db", "mcd_world_db", "f0_rmse_hz", "f0_rmse_cents", "vde", "audio_seconds", "synth_seconds",
                "hyp_real", "hyp_synth", "text")


def write_report(result: Mapping[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write :func:`evaluate_synthesis`'s result as ``tts_eval.json`` and ``tts_eval.tsv`` in ``out_dir``.

    Both files are written atomically (:func:`speech.fileio.atomic_write_text`). In the JSON, NaN
    (undefined F0 error) becomes ``null``; the TSV has one row per utterance (columns ``id``,
    ``mcd_db``, ``mcd_world_db``, ``f0_rmse_hz``, ``f0_rmse_cents``, ``vde``, ``audio_seconds``,
    ``synth_seconds``, ``hyp_real``, ``hyp_synth``, ``text``; the hypothesis columns only with a recognizer), numbers
    with 4 decimals, NaN as ``nan``, tabs/newlines in text replaced by spaces.

    Returns:
        The two paths ``(json_path, tsv_path)``.
    """
    out = Path(out_dir)
    rows = list(result.get("rows", []))
    json_path = atomic_write_text(out / "tts_eval.json",
                                  json.dumps(_json_safe(dict(result)), indent=2, ensure_ascii=False,
                                             allow_nan=False) + "\n")
    cols = [c for c in _TSV_COLUMNS if not rows or c in rows[0]]

    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "nan" if math.isnan(v) else f"{float(v):.4f}"
        return " ".join(str(v).split())

    lines = ["\t".join(cols)] + ["\t".join(cell(r.get(c, "")) for c in cols) for r in rows]
    tsv_path = atomic_write_text(out / "tts_eval.tsv", "\n".join(lines) + "\n")
    return json_path, tsv_path


log = logging.getLogger(__name__)

HELDOUT_FRACTION = 0.05


def resolve_recognizer(recognizer: Any):
    """``"auto"`` -> a PocketSphinxRecognizer when pocketsphinx is importable, else None (with a warning)."""
    if recognizer is None:
        return None
    if isinstance(recognizer, str):
        if recognizer != "auto":
            raise ValueError(f"recognizer={recognizer!r}: expected 'auto', None or an object with "
                             "transcribe(wav, sr) -> str")

        try:
            return PocketSphinxRecognizer()
        except ImportError as e:
            warnings.warn(f"{e}; skipping the recognizer WER", RuntimeWarning, stacklevel=3)
            return None
    if not callable(getattr(recognizer, "transcribe", None)):
        raise TypeError(f"recognizer: {type(recognizer).__name__} has no transcribe(wav, sr) method")
    return recognizer


def _select(utts, ids: Sequence[str] | None, pkg: TtsPackage) -> tuple[list, str]:

    by_id = {u.id: u for u in utts}
    if ids is None and pkg.meta.get("test_ids"):
        ids, source = list(pkg.meta["test_ids"]), "package test_ids"
    elif ids is not None:
        ids, source = list(ids), "given ids"
    else:
        return split_heldout(utts, HELDOUT_FRACTION)[1], f"split_heldout({HELDOUT_FRACTION})"
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} of {len(ids)} utterance ids not in the corpus ({source}): "
                         f"{', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}")
    return [by_id[i] for i in dict.fromkeys(ids)], source


def evaluate_voice(package: TtsPackage | str | Path, corpus: str | Path | None = None,
                   ids: Sequence[str] | None = None, out_dir: str | Path | None = None,
                   vocoder: Any = "griffin-lim", recognizer: Any = "auto", limit: int | None = None,
                   progress: bool = True, device: str = "cpu", layout: str = "auto") -> dict[str, Any]:
    """Synthesize held-out prompts of a corpus and score them against the real recordings.

    Args:
        package: a voice package (path or loaded :class:`TtsPackage`).
        corpus: the corpus folder (see :func:`speech.data.prepare.tts_corpus.read_tts_corpus`); ``None`` uses
            the package's ``meta.json`` ``corpus`` (the one it was trained on).
        ids: utterance ids to evaluate; ``None``: the package's ``test_ids``, or when absent the
            held-out side of ``split_heldout(utts, 0.05)``.
        out_dir: where ``tts_eval.json``, ``tts_eval.tsv`` and ``wavs/<id>.wav`` go; ``None``:
            ``tts_eval`` beside the package folder.
        vocoder: ``"griffin-lim"`` or a :class:`~speech.models.vocoders.base.Vocoder`.
        recognizer: ``"auto"`` (PocketSphinx when installed; otherwise a warning and no WER),
            ``None`` (no WER) or any object with ``transcribe(wav, sr) -> str``.
        limit: evaluate at most this many utterances (the first ones of the selection).
        progress: progress bar on stderr.

    Returns:
        :func:`~speech.pipelines.evaluate_tts.evaluate_synthesis`'s dict, plus ``package``, ``corpus``,
        ``selection`` (where the ids came from), ``vocoder``, ``skipped`` (ids with nothing to
        pronounce), ``wav_dir``, ``report_json`` and ``report_tsv``.

    Raises:
        PackageError: the package cannot be loaded. FileNotFoundError / ValueError: corpus
        missing or unreadable, unknown ids, nothing left to evaluate.
    """
    from tqdm.auto import tqdm


    pkg = package if isinstance(package, TtsPackage) else load_tts_package(package, device)
    if corpus is None:
        corpus = pkg.meta.get("corpus")
        if not corpus:
            raise ValueError(f"{pkg.path}: meta.json names no training corpus; give the corpus folder")
    if limit is not None and limit < 1:
        raise ValueError(f"limit={limit}: expected >= 1")
    rec = resolve_recognizer(recognizer)
    utts, selection = _select(read_tts_corpus(corpus, layout), ids, pkg)
    if limit is not None:
        utts = utts[:limit]
    if not utts:
        raise ValueError(f"{corpus}: no utterances to evaluate ({selection} selects none)")
    out = Path(out_dir) if out_dir is not None else pkg.path.parent / "tts_eval"
    wav_dir = out / "wavs"
    synth = Synthesizer(pkg, vocoder=vocoder, device=device)
    sr = pkg.sample_rate
    items, skipped = [], []
    for u in tqdm(utts, unit="utt", desc="synthesizing", disable=not progress):
        t0 = time.perf_counter()
        try:
            res = synth.synthesize(u.text)
        except ValueError as e:
            log.warning("%s: %s", u.id, e)
            skipped.append(u.id)
            continue
        seconds = time.perf_counter() - t0
        ref, _ = load(u.audio, sample_rate=sr)
        save(wav_dir / f"{u.id}.wav", res.wav, sr)
        items.append(SynthesisItem(u.id, u.text, np.asarray(ref, np.float32), res.wav, sr, seconds))
    if not items:
        raise ValueError(f"{corpus}: none of the {len(utts)} selected texts has anything to pronounce")
    result = evaluate_synthesis(items, recognizer=rec)
    rows = result.pop("rows")
    result.update({"package": str(pkg.path), "corpus": str(corpus), "selection": selection,
                   "vocoder": vocoder if isinstance(vocoder, str) else type(vocoder).__name__,
                   "recognizer": None if rec is None else type(rec).__name__,
                   "skipped": skipped, "wav_dir": str(wav_dir), "rows": rows})
    json_path, tsv_path = write_report(result, out)
    result["report_json"], result["report_tsv"] = str(json_path), str(tsv_path)
    return result


def evaluate_copy_synthesis(vocoder: Any, corpus: str | Path, ids: Sequence[str], out_dir: str | Path,
                            recognizer: Any = "auto", progress: bool = True, layout: str = "auto") -> dict[str, Any]:
    """Judge a vocoder alone: each recording -> its log-mel (the vocoder's mel config) -> audio,
    scored against the recording like :func:`evaluate_voice` (MCD, F0, voicing, RTF, recognizer WER).

    Args:
        vocoder: ``"griffin-lim"``, a vocoder package path, or a :class:`~speech.models.vocoders.base.Vocoder`.
        ids: utterance ids of ``corpus`` (e.g. a voice package's ``test_ids``).
    """
    import torch
    from tqdm.auto import tqdm


    voc = vocoder if isinstance(vocoder, Vocoder) else load_vocoder(str(vocoder), tts_fbank())
    by_id = {u.id: u for u in read_tts_corpus(corpus, layout)}
    missing = [i for i in ids if i not in by_id]
    if missing or not ids:
        raise ValueError(f"{corpus}: {len(missing)} of {len(ids)} ids not in the corpus"
                         + (f" (e.g. {missing[0]})" if missing else "; expected at least one id"))
    rec = resolve_recognizer(recognizer)
    out = Path(out_dir)
    sr = voc.sample_rate
    items = []
    for uid in tqdm(list(dict.fromkeys(ids)), unit="utt", desc="copy synthesis", disable=not progress):
        u = by_id[uid]
        ref, _ = load(u.audio, sample_rate=sr)
        mel = log_mel(torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32)), voc.fbank)
        t0 = time.perf_counter()
        wav = voc(mel).float().cpu().numpy()
        seconds = time.perf_counter() - t0
        save(out / "wavs" / f"{uid}.wav", wav, sr)
        items.append(SynthesisItem(uid, u.text, np.asarray(ref, np.float32), wav, sr, seconds))
    result = evaluate_synthesis(items, recognizer=rec)
    result.update({"vocoder": str(vocoder) if not isinstance(vocoder, Vocoder) else type(vocoder).__name__,
                   "corpus": str(corpus), "mode": "copy synthesis",
                   "recognizer": None if rec is None else type(rec).__name__})
    json_path, tsv_path = write_report(result, out)
    result["report_json"], result["report_tsv"] = str(json_path), str(tsv_path)
    return result
