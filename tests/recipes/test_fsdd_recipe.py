"""The FSDD recipe end to end on the real corpus, shortened (the full run is in recipes/fsdd/README.md)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from speech.cli.main import main as speech_main

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "fsdd" / "run.py"


def test_missing_corpus_says_how_to_get_it(tmp_path):
    r = subprocess.run([sys.executable, str(RECIPE), "--data", str(tmp_path / "nowhere"), "--exp", str(tmp_path / "exp")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "nowhere" in r.stderr and "free-spoken-digit-dataset" in r.stderr


@pytest.mark.slow
def test_short_recipe_learns_digits(data_root, tmp_path, capsys):
    exp = tmp_path / "exp"
    r = subprocess.run(
        [sys.executable, str(RECIPE), "--data", str(data_root / "fsdd"), "--exp", str(exp), "--no-readme",
         "trainer.max_epochs=6", "trainer.progress=false", "model.asr.hidden_size=128", "model.asr.num_layers=2"],
        capture_output=True, text=True, timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((exp / "results.json").read_text())
    assert res["utterances"] == 300 and res["failed"] == 0
    assert res["wer"] < 0.25, res  # 6 short epochs; the full recipe reaches far lower
    assert 0 < res["rtf"] < 1
    assert (exp / "training_curves.png").is_file() and (exp / "model" / "model.pt").is_file()

    # the package transcribes real test files from the command line
    files = sorted((data_root / "fsdd" / "recordings").glob("*_theo_0.wav"))
    assert speech_main(["transcribe", *map(str, files), "--model", str(exp / "model")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(files) == 10
    words = "zero one two three four five six seven eight nine".split()
    right = sum(line.split("\t")[1] == words[int(Path(line.split("\t")[0]).name[0])] for line in out)
    assert right >= 6, out

    # forced alignment and word timestamps with the trained model
    wav_path = data_root / "fsdd" / "recordings" / "7_theo_0.wav"
    out = tmp_path / "al"
    assert speech_main(["align", str(wav_path), "seven", "--model", str(exp / "model"), "--out", str(out)]) == 0
    capsys.readouterr()
    spans = json.loads(out.with_suffix(".json").read_text())
    words = spans["words"]
    assert [w["label"] for w in words] == ["seven"]
    import numpy as np
    import soundfile as sf

    audio, sr = sf.read(wav_path)
    inside = audio[int(words[0]["start"] * sr): int(words[0]["end"] * sr)]
    assert len(inside) > 0.1 * sr and np.mean(inside ** 2) > np.mean(audio ** 2)  # the word sits on the loud part
    assert "IntervalTier" in out.with_suffix(".TextGrid").read_text()
    assert speech_main(["transcribe", str(wav_path), "--model", str(exp / "model"), "--format", "vtt"]) == 0
    vtt = capsys.readouterr().out
    assert vtt.startswith("WEBVTT") and "-->" in vtt
