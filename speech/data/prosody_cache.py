"""A disk cache of per-utterance pitch and energy targets (:func:`speech.features.prosody.compute_targets`),
keyed by utterance id and the analysis settings; computed in worker processes on a miss."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from speech.audio import load
from speech.features.functional import FbankConfig
from speech.features.prosody import PITCH_METHODS, TARGETS_VERSION, compute_targets
from speech.fileio import atomic_write_bytes

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def _config_key(fbank: FbankConfig, method: str, fmin: float, fmax: float) -> str:
    blob = json.dumps({"fbank": dataclasses.asdict(fbank), "method": method, "fmin": float(fmin),
                       "fmax": float(fmax), "version": TARGETS_VERSION}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _cache_worker(args):
    cache, utt_id, audio_path, fbank = args
    try:
        cache.get_or_compute(utt_id, audio_path, fbank)
        return utt_id, None
    except Exception as e:  # noqa: BLE001 - reported per item by compute_all
        return utt_id, f"{type(e).__name__}: {e}"


class TargetCache:
    """Per-utterance ``.npz`` targets under ``root/<config hash>/<utt_id>.npz``.

    The config hash covers every :class:`FbankConfig` field, ``method``, ``fmin``, ``fmax`` and an
    internal version, so changing any of them computes fresh targets in a new folder. Writes go
    through :func:`speech.fileio.atomic_write_bytes`. A cache file that cannot be read or is inconsistent is
    recomputed with a warning naming it. The cache does not notice edits to the audio files
    themselves: delete the folder after changing audio.
    """

    def __init__(self, root: str | Path, method: str = "pyin", fmin: float = 65.0,
                 fmax: float = 600.0):
        if method not in PITCH_METHODS:
            raise ValueError(f"TargetCache: method={method!r}; expected one of {PITCH_METHODS}")
        self.root = Path(root)
        self.method, self.fmin, self.fmax = method, float(fmin), float(fmax)

    def path(self, utt_id: str, fbank: FbankConfig) -> Path:
        name = _SAFE_ID.sub("_", str(utt_id))
        if name != str(utt_id) or name in ("", ".", ".."):
            name = f"{name}-{hashlib.sha1(str(utt_id).encode()).hexdigest()[:8]}"
        return self.root / _config_key(fbank, self.method, self.fmin, self.fmax) / f"{name}.npz"

    def _read(self, path: Path) -> dict[str, np.ndarray] | None:
        try:
            with np.load(path, allow_pickle=False) as z:
                out = {"log_f0": z["log_f0"].astype(np.float32), "voiced": z["voiced"].astype(bool),
                       "energy": z["energy"].astype(np.float32)}
        except FileNotFoundError:
            return None
        except Exception as e:  # noqa: BLE001 - any unreadable file is recomputed
            warnings.warn(f"{path}: unreadable target cache file ({type(e).__name__}: {e}); "
                          "recomputing", stacklevel=3)
            return None
        shapes = {k: v.shape for k, v in out.items()}
        if any(len(s) != 1 for s in shapes.values()) or len(set(shapes.values())) != 1:
            warnings.warn(f"{path}: inconsistent target cache file (shapes {shapes}); recomputing",
                          stacklevel=3)
            return None
        return out

    def _write(self, path: Path, targets: dict[str, np.ndarray]) -> None:
        buf = io.BytesIO()
        np.savez(buf, **targets)
        atomic_write_bytes(path, buf.getvalue())

    def get_or_compute(self, utt_id: str, audio_path: str | Path,
                       fbank: FbankConfig) -> dict[str, np.ndarray]:
        """Cached targets for ``utt_id``, computing (from ``audio_path`` resampled to
        ``fbank.sample_rate``) and storing them when absent or unreadable."""
        path = self.path(utt_id, fbank)
        if path.exists():
            hit = self._read(path)
            if hit is not None:
                return hit
        wav, _ = load(audio_path, sample_rate=fbank.sample_rate)
        targets = compute_targets(wav, fbank, method=self.method, fmin=self.fmin, fmax=self.fmax)
        self._write(path, targets)
        return targets

    def compute_all(self, items: Sequence[tuple[str, str | Path]], fbank: FbankConfig,
                    workers: int = 1, progress: bool = True) -> dict:
        """Fill the cache for ``(utt_id, audio_path)`` items, skipping those already cached.

        Failures (unreadable audio, ...) do not stop the run: they are returned (and warned about).

        Returns:
            ``{"cached": int, "computed": int, "failed": {utt_id: message}}``.
        """
        from tqdm import tqdm

        items = list(items)
        todo = [(u, a) for u, a in items if not self.path(u, fbank).exists()]
        failed: dict[str, str] = {}
        bar = tqdm(total=len(todo), desc="pitch/energy targets", unit="utt", disable=not progress)
        jobs = [(self, u, a, fbank) for u, a in todo]
        if workers <= 1:
            results = map(_cache_worker, jobs)
            for utt_id, err in results:
                if err:
                    failed[utt_id] = err
                bar.update(1)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
                for utt_id, err in ex.map(_cache_worker, jobs, chunksize=4):
                    if err:
                        failed[utt_id] = err
                    bar.update(1)
        bar.close()
        if failed:
            first = next(iter(failed.items()))
            warnings.warn(f"TargetCache.compute_all: {len(failed)} of {len(todo)} utterances failed "
                          f"(first: {first[0]}: {first[1]})", stacklevel=2)
        return {"cached": len(items) - len(todo), "computed": len(todo) - len(failed), "failed": failed}
