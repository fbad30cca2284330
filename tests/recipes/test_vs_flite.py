"""recipes/kathleen/vs_flite.py on two real LJSpeech sentences: every system's row, one recognizer."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "recipes" / "kathleen" / "vs_flite.py"


def test_missing_corpus_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path / "nowhere"), "--sets", "outside",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "nowhere/LJSpeech-subset/metadata.csv: not found" in r.stderr


@pytest.mark.data
def test_two_outside_sentences_scored_for_every_system(data_root, tmp_path):
    pytest.importorskip("pocketsphinx", reason="needs the eval extra: pip install 'speech[eval]'")
    if shutil.which("flite") is None:
        pytest.skip("CMU Flite not installed (the README's set-up installs it)")
    r = subprocess.run([sys.executable, str(SCRIPT), "--data", str(data_root), "--sets", "outside", "--limit", "2",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "out" / "outside" / "intelligibility.json").read_text())
    names = [s["name"] for s in res["systems"]]
    # the bundled voice sets a post-filter, so it is also scored without it
    assert names[0] == "recordings" and names[-1] == "flite slt" and len(names) == 4
    assert "post-filter off" in names[2]
    assert res["sentences"] == 2 and res["reference_words"] > 5
    for s in res["systems"]:  # each read both texts, and something of them reached the recognizer
        assert not s["failed"] and 0 <= s["wer"] < 1.0, s
    assert len(list((tmp_path / "out" / "outside" / "wavs").glob("*/*.wav"))) == 8
    assert "| flite slt |" in r.stdout
