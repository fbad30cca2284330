"""The bundled digit recognizer reads a quiet or coarsely quantized take like the original.

FSDD's official test split (300 clips) decoded as recorded, 10 and 20 dB quieter, and after 8-bit
quantization of the original: each WER within 1 point of the original's (issue 18). The bundled
model normalizes each clip's level before its features (``features.fbank.level_db``); without it
a clip 15 dB quieter sank into the log floor and "four" became "fo".
"""
from __future__ import annotations

import numpy as np
import pytest

from speech.audio.io import load
from speech.decoding.metrics import error_stats


def _quantize_8bit(x: np.ndarray) -> np.ndarray:
    return (np.clip(np.round(x * 127.0), -128, 127) / 127.0).astype(np.float32)


@pytest.fixture(scope="module")
def fsdd_test(data_root):
    return data_root / "fsdd"


def test_bundled_digits_wer_holds_at_minus_10_and_minus_20_db_and_8_bit(fsdd_test, tmp_path):
    from speech.data.manifest import read_manifest
    from speech.data.prepare import prepare
    from speech.pipelines.transcriber import Transcriber

    splits = prepare("fsdd", fsdd_test, tmp_path / "manifests")
    utts = read_manifest(splits["test"])
    assert len(utts) == 300
    tr = Transcriber("digits", batch_size=32)
    clean = [load(u.audio, sample_rate=tr.sample_rate)[0] for u in utts]
    refs = [u.text for u in utts]
    conditions = {"original": clean, "-10 dB": [x * 10 ** (-10 / 20) for x in clean],
                  "-20 dB": [x * 10 ** (-20 / 20) for x in clean], "8-bit": [_quantize_8bit(x) for x in clean]}
    wer = {}
    for name, wavs in conditions.items():
        hyps = [r.text for r in tr.transcribe_waveforms([(u.id, w, []) for u, w in zip(utts, wavs)])]
        wer[name] = error_stats(refs, hyps).rate
    for name in ("-10 dB", "-20 dB", "8-bit"):
        assert abs(wer[name] - wer["original"]) <= 0.01, wer
