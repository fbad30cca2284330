"""Time pyin vs yin pitch targets on one audio file and report how often they agree on voicing.

    python bench/prosody.py --bench ../shared/data/kathleen/<take>.wav --seconds 5
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import math

import numpy as np

from speech.features.functional import FbankConfig
from speech.features.prosody import PITCH_METHODS, frame_pitch


def _bench(path: str, seconds: float = 5.0) -> None:  # pragma: no cover - manual measurement
    """Print pyin/yin times and voicing agreement on the first ``seconds`` of ``path``."""
    import time

    from speech.audio import load

    fbank = FbankConfig(sample_rate=22050)
    wav, _ = load(path, sample_rate=fbank.sample_rate)
    wav = wav[: int(seconds * fbank.sample_rate)]
    out = {}
    for method in PITCH_METHODS:
        frame_pitch(wav, fbank, method=method)  # warm-up (numba/librosa caches)
        t0 = time.perf_counter()
        out[method] = frame_pitch(wav, fbank, method=method)
        print(f"{method}: {time.perf_counter() - t0:.3f} s for {len(wav) / fbank.sample_rate:.2f} s "
              f"of audio, voiced {out[method][1].mean():.2f}")
    agree = float(np.mean(out["pyin"][1] == out["yin"][1]))
    both = out["pyin"][1] & out["yin"][1]
    cents = 1200 / math.log(2) * np.abs(out["pyin"][0][both] - out["yin"][0][both])
    print(f"voicing agreement {agree:.3f}; median |pyin - yin| on frames both voice: "
          f"{np.median(cents):.1f} cents")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Time pyin vs yin pitch targets on one audio file.")
    ap.add_argument("--bench", required=True, metavar="AUDIO")
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    _bench(a.bench, a.seconds)
