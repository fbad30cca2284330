"""The bundled digit recognizer reads a quieter or coarsely quantized take like the original.

FSDD's official test split (300 clips) decoded as recorded, 10 and 20 dB quieter, and after 8-bit
quantization of the original (issue 18). The bundled model normalizes each clip's level before its
features (``features.fbank.level_db``) and trained on 8-bit copies (``data.quantize_bits``);
before, a clip 15 dB quieter sank into the log floor and "four" became "fo".

8 bits cannot keep what two of FSDD's voices recorded: theo's clips sit at -44 dB RMS and
yweweler's at -38 dB, where an 8-bit step leaves 9-15 dB of signal-to-noise. The 1-point target
holds on the clips recorded louder than -35 dB; over all 300 the 8-bit WER is reported in
recipes/fsdd/README.md and kept here below 5% (it was 15.3% before issue 18's changes).
"""
from __future__ import annotations

import numpy as np
import pytest

from speech.audio.io import load
from speech.decoding.metrics import error_stats

LOUD_ENOUGH_DB = -35.0


def _quantize_8bit(x: np.ndarray) -> np.ndarray:
    return (np.clip(np.round(x * 127.0), -128, 127) / 127.0).astype(np.float32)


def _rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(max(np.sqrt(np.mean(np.square(x, dtype=np.float64))), 1e-12)))


def test_bundled_digits_wer_holds_at_minus_10_and_minus_20_db_and_8_bit(data_root, tmp_path):
    from speech.data.manifest import read_manifest
    from speech.data.prepare import prepare
    from speech.pipelines.transcriber import Transcriber

    splits = prepare("fsdd", data_root / "fsdd", tmp_path / "manifests")
    utts = read_manifest(splits["test"])
    assert len(utts) == 300
    tr = Transcriber("digits", batch_size=32)
    clean = [load(u.audio, sample_rate=tr.sample_rate)[0] for u in utts]
    refs = [u.text for u in utts]
    conditions = {"original": clean, "-10 dB": [x * 10 ** (-10 / 20) for x in clean],
                  "-20 dB": [x * 10 ** (-20 / 20) for x in clean], "8-bit": [_quantize_8bit(x) for x in clean]}
    hyps = {name: [r.text for r in tr.transcribe_waveforms([(u.id, w, []) for u, w in zip(utts, wavs)])]
            for name, wavs in conditions.items()}
    wer = {name: error_stats(refs, h).rate for name, h in hyps.items()}
    for name in ("-10 dB", "-20 dB"):
        assert abs(wer[name] - wer["original"]) <= 0.01, wer
    loud = [i for i, x in enumerate(clean) if _rms_db(x) > LOUD_ENOUGH_DB]
    assert len(loud) >= 150  # four of the six voices

    def subset(name):
        return error_stats([refs[i] for i in loud], [hyps[name][i] for i in loud]).rate

    assert abs(subset("8-bit") - subset("original")) <= 0.01, (subset("8-bit"), subset("original"))
    assert wer["8-bit"] < 0.05, wer
