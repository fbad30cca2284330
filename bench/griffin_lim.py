"""Griffin-Lim speed and copy-synthesis quality: RTF on 5 s of mels and log-mel L1 on one clip.

    python bench/griffin_lim.py [--clip WAV] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import math

import torch

from speech.features.functional import FbankConfig
from speech.models.vocoders.griffin_lim import GriffinLimVocoder


def _benchmark(argv: list[str] | None = None) -> None:
    """Print the module docstring's numbers: RTF on 5 s of mels (a real clip's log-mels, tiled to 5 s)
    and copy-synthesis log-mel L1 on that clip."""
    import argparse
    import os
    import time
    from pathlib import Path

    from speech.audio import load
    from speech.features.functional import log_mel

    root = Path(os.environ.get("SPEECH_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap = argparse.ArgumentParser(prog="python bench/griffin_lim.py")
    ap.add_argument("--clip", default=str(root / "LJSpeech-subset" / "wavs" / "LJ001-0002.wav"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    wav22, _ = load(args.clip, sample_rate=22050)
    wav16, _ = load(args.clip, sample_rate=16000)
    wav22, wav16 = torch.from_numpy(wav22), torch.from_numpy(wav16)
    cfg22 = FbankConfig(sample_rate=22050, n_mels=80, win_ms=1024 / 22.05, hop_ms=256 / 22.05, n_fft=1024,
                        f_min=0.0, f_max=8000.0, preemphasis=0.0)
    cfg16 = FbankConfig()  # toolkit default: 16 kHz, 25/10 ms, pre-emphasis 0.97
    print(f"clip {args.clip}: {wav22.numel() / 22050:.2f} s; threads {args.threads}")
    for name, cfg, x in (("22.05k hop256 nfft1024 fmax8k pre0", cfg22, wav22), ("16k default fbank", cfg16, wav16)):
        feats = log_mel(x, cfg)
        reps = math.ceil(5.0 * cfg.sample_rate / cfg.hop_length / feats.shape[0])
        five_s = feats.repeat(reps, 1)[: round(5.0 * cfg.sample_rate / cfg.hop_length)]
        for n_iter in (16, 32, 64):
            voc = GriffinLimVocoder(cfg, n_iter=n_iter)
            voc(five_s[:10])  # warm-up
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                voc(five_s)
                times.append(time.perf_counter() - t0)
            out = voc(feats)
            back = log_mel(out, cfg)
            t = min(back.shape[0], feats.shape[0])
            l1 = (back[:t] - feats[:t]).abs().mean().item()
            print(f"{name}: n_iter={n_iter:3d}  RTF(5 s)={min(times) / 5.0:.3f}  copy-synthesis log-mel L1={l1:.3f}")


if __name__ == "__main__":
    _benchmark()
