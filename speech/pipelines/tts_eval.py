"""Evaluate a voice package on held-out prompts of its corpus (``speech evaluate-tts``).

:func:`evaluate_voice` synthesizes the text of each held-out utterance with a
:class:`~speech.pipelines.synthesizer.Synthesizer`, loads the real recording at the package's sample
rate, and scores the pair with :func:`speech.tts.evaluate.evaluate_synthesis` (MCD, F0 RMSE, voicing
error, real-time factor and, with a recognizer, the intelligibility WER of an independent
recognizer on the real vs the synthesized audio). The report (``tts_eval.json``,
``tts_eval.tsv``) and the synthesized audio (``wavs/<id>.wav``) go to ``out_dir``.

Which utterances: ``ids`` when given, else the package's held-out ``test_ids`` (``meta.json``,
written by training), else the held-out side of :func:`speech.tts.corpus.split_heldout` at 5 %.
"""
from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from speech.pipelines.tts_package import TtsPackage, load_tts_package

__all__ = ["evaluate_voice"]

log = logging.getLogger(__name__)

HELDOUT_FRACTION = 0.05


def _recognizer(recognizer: Any):
    """``"auto"`` -> a PocketSphinxRecognizer when pocketsphinx is importable, else None (with a warning)."""
    if recognizer is None:
        return None
    if isinstance(recognizer, str):
        if recognizer != "auto":
            raise ValueError(f"recognizer={recognizer!r}: expected 'auto', None or an object with "
                             "transcribe(wav, sr) -> str")
        from speech.tts.evaluate import PocketSphinxRecognizer

        try:
            return PocketSphinxRecognizer()
        except ImportError as e:
            warnings.warn(f"{e}; skipping the recognizer WER", RuntimeWarning, stacklevel=3)
            return None
    if not callable(getattr(recognizer, "transcribe", None)):
        raise TypeError(f"recognizer: {type(recognizer).__name__} has no transcribe(wav, sr) method")
    return recognizer


def _select(utts, ids: Sequence[str] | None, pkg: TtsPackage) -> tuple[list, str]:
    from speech.tts.corpus import split_heldout

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
        corpus: the corpus folder (see :func:`speech.tts.corpus.read_tts_corpus`); ``None`` uses
            the package's ``meta.json`` ``corpus`` (the one it was trained on).
        ids: utterance ids to evaluate; ``None``: the package's ``test_ids``, or when absent the
            held-out side of ``split_heldout(utts, 0.05)``.
        out_dir: where ``tts_eval.json``, ``tts_eval.tsv`` and ``wavs/<id>.wav`` go; ``None``:
            ``tts_eval`` beside the package folder.
        vocoder: ``"griffin-lim"`` or a :class:`~speech.vocoders.Vocoder`.
        recognizer: ``"auto"`` (PocketSphinx when installed; otherwise a warning and no WER),
            ``None`` (no WER) or any object with ``transcribe(wav, sr) -> str``.
        limit: evaluate at most this many utterances (the first ones of the selection).
        progress: progress bar on stderr.

    Returns:
        :func:`~speech.tts.evaluate.evaluate_synthesis`'s dict, plus ``package``, ``corpus``,
        ``selection`` (where the ids came from), ``vocoder``, ``skipped`` (ids with nothing to
        pronounce), ``wav_dir``, ``report_json`` and ``report_tsv``.

    Raises:
        PackageError: the package cannot be loaded. FileNotFoundError / ValueError: corpus
        missing or unreadable, unknown ids, nothing left to evaluate.
    """
    from tqdm.auto import tqdm

    from speech.audio.io import load, save
    from speech.pipelines.synthesizer import Synthesizer
    from speech.tts.corpus import read_tts_corpus
    from speech.tts.evaluate import SynthesisItem, evaluate_synthesis, write_report

    pkg = package if isinstance(package, TtsPackage) else load_tts_package(package, device)
    if corpus is None:
        corpus = pkg.meta.get("corpus")
        if not corpus:
            raise ValueError(f"{pkg.path}: meta.json names no training corpus; give the corpus folder")
    if limit is not None and limit < 1:
        raise ValueError(f"limit={limit}: expected >= 1")
    rec = _recognizer(recognizer)
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
        vocoder: ``"griffin-lim"``, a vocoder package path, or a :class:`~speech.vocoders.Vocoder`.
        ids: utterance ids of ``corpus`` (e.g. a voice package's ``test_ids``).
    """
    import torch
    from tqdm.auto import tqdm

    from speech.audio.io import load, save
    from speech.features.functional import log_mel
    from speech.tts.corpus import read_tts_corpus
    from speech.tts.data import TTS_FBANK
    from speech.tts.evaluate import SynthesisItem, evaluate_synthesis, write_report
    from speech.vocoders import Vocoder, load_vocoder

    voc = vocoder if isinstance(vocoder, Vocoder) else load_vocoder(str(vocoder), TTS_FBANK)
    by_id = {u.id: u for u in read_tts_corpus(corpus, layout)}
    missing = [i for i in ids if i not in by_id]
    if missing or not ids:
        raise ValueError(f"{corpus}: {len(missing)} of {len(ids)} ids not in the corpus"
                         + (f" (e.g. {missing[0]})" if missing else "; expected at least one id"))
    rec = _recognizer(recognizer)
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
