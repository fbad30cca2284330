"""compare_intelligibility: every system reads every text, one recognizer scores all; Flite as a system."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from speech.pipelines.intelligibility import (FliteSystem, RecordingSystem, TextItem, compare_intelligibility,
                                              format_table)

ITEMS = [TextItem("a", "Dr. Smith paid $5.", "doctor smith paid five dollars"),
         TextItem("b", "The cat sat.", "the cat sat"),
         TextItem("c", "Hello there!", "hello there")]


class CodeRecognizer:
    """Reads the text a fake system 'said' back from the waveform: sample 0 indexes ``said``."""

    def __init__(self):
        self.said: list[str] = []

    def transcribe(self, wav, sr):
        return self.said[int(round(wav[0]))]


class FakeSystem:
    def __init__(self, name, rec, mangle=lambda item: item.reference, fail_on=()):
        self.name, self.rec, self.mangle, self.fail_on = name, rec, mangle, set(fail_on)

    def synthesize(self, item):
        if item.id in self.fail_on:
            raise ValueError("cannot read this")
        self.rec.said.append(self.mangle(item))
        return np.full(1600, len(self.rec.said) - 1, np.float32), 16000


def test_each_system_scored_against_the_same_references(tmp_path):
    rec = CodeRecognizer()
    words = sum(len(i.reference.split()) for i in ITEMS)  # 5 + 3 + 2
    systems = [FakeSystem("perfect", rec),
               FakeSystem("drops-last-word", rec, lambda it: " ".join(it.reference.split()[:-1])),
               FakeSystem("fails-on-a", rec, fail_on={"a"}),
               FakeSystem("shouts", rec, lambda it: it.reference.upper() + "!")]  # normalized like the reference
    res = compare_intelligibility(ITEMS, systems, rec, out_dir=tmp_path, progress=False)
    by = {s["name"]: s for s in res["systems"]}
    assert res["sentences"] == 3 and res["reference_words"] == words
    assert by["perfect"]["wer"] == 0 and by["shouts"]["wer"] == 0
    assert by["drops-last-word"]["deletions"] == 3 and by["drops-last-word"]["wer"] == pytest.approx(3 / words)
    # a text a system cannot read counts as every word deleted, not as skipped
    assert by["fails-on-a"]["failed"] == ["a"] and by["fails-on-a"]["deletions"] == 5
    assert by["fails-on-a"]["wer"] == pytest.approx(5 / words)
    assert res["rows"][0]["fails-on-a"] is None and res["rows"][1]["drops-last-word"] == "the cat"
    saved = json.loads((tmp_path / "intelligibility.json").read_text())
    assert [s["name"] for s in saved["systems"]] == ["perfect", "drops-last-word", "fails-on-a", "shouts"]
    assert (tmp_path / "wavs" / "drops-last-word" / "b.wav").is_file()
    assert not (tmp_path / "wavs" / "fails-on-a" / "a.wav").exists()
    table = (tmp_path / "intelligibility.md").read_text()
    assert "| drops-last-word | 30.0% | 3 / 10 (0, 3, 0) | 0 |" in table and table.strip() == format_table(res)


def test_bad_arguments_are_one_line_errors():
    rec = CodeRecognizer()
    with pytest.raises(ValueError, match="system name 'x' repeats"):
        compare_intelligibility(ITEMS, [FakeSystem("x", rec), FakeSystem("x", rec)], rec, progress=False)
    with pytest.raises(ValueError, match="text id 'b' repeats"):
        compare_intelligibility(ITEMS + [ITEMS[1]], [FakeSystem("x", rec)], rec, progress=False)
    with pytest.raises(ValueError, match="expected at least one"):
        compare_intelligibility([], [FakeSystem("x", rec)], rec, progress=False)
    with pytest.raises(ValueError, match="needs a recognizer"):
        compare_intelligibility(ITEMS, [FakeSystem("x", rec)], None, progress=False)


def test_recordings_system_reads_the_item_audio(tmp_path):
    from speech.audio.io import save

    wav = (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    save(tmp_path / "r.wav", wav, 8000)
    got, sr = RecordingSystem().synthesize(TextItem("r", "x", "x", str(tmp_path / "r.wav")))
    assert sr == 8000 and np.allclose(got, wav, atol=1e-4)
    with pytest.raises(ValueError, match="no recording"):
        RecordingSystem().synthesize(TextItem("r", "x", "x"))


def test_missing_flite_binary_says_how_to_install():
    with pytest.raises(FileNotFoundError, match="apt-get install flite"):
        FliteSystem(binary="no-such-flite-binary")


@pytest.mark.skipif(shutil.which("flite") is None, reason="CMU Flite not installed (the README's set-up installs it)")
def test_flite_speaks_and_refuses_unknown_voices():
    flite = FliteSystem("slt")
    wav, sr = flite.synthesize(TextItem("t", "-5 cats sat on 2 mats.", ""))  # a leading '-' is text, not an option
    assert sr == 16000 and 1.0 < len(wav) / sr < 6.0 and np.abs(wav).max() > 0.05
    with pytest.raises(ValueError, match="not built into"):
        FliteSystem("no-such-voice")
