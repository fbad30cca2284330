"""``speech transcribe --vtln``: one warp for one speaker's clips, estimated from their audio."""
from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from speech.cli.main import main as speech_main

WORDS = "zero one two three four five six seven eight nine".split()


def _warp_line(err: str) -> float:
    m = re.search(r"vtln: warp ([0-9.]+) from (\d+) clip", err)
    assert m, err
    return float(m.group(1))


def test_vtln_transcribes_one_speakers_clips_and_moves_with_their_formants(data_root, tmp_path, capsys):
    from speech.audio import load
    from speech.audio.read import resample

    files = [data_root / "fsdd" / "recordings" / f"{d}_jackson_{i}.wav" for d in range(10) for i in range(2)]
    assert speech_main(["transcribe", "--model", "digits", "--vtln", *map(str, files)]) == 0
    out, err = capsys.readouterr()
    as_recorded = _warp_line(err)
    lines = out.splitlines()
    assert len(lines) == 20 and all(line.split("\t")[1] in WORDS for line in lines)
    right = sum(line.split("\t")[1] == WORDS[int(line.split("\t")[0].rsplit("/", 1)[1][0])] for line in lines)
    assert right >= 18, out  # the bundled model trained on jackson's other takes

    # the same clips with every frequency 15% higher (formants of a shorter vocal tract)
    raised = tmp_path / "raised"
    raised.mkdir()
    for f in files:
        wav, sr = load(f)
        sf.write(raised / f.name, resample(wav, int(round(sr * 1.15)), sr), sr)
    assert speech_main(["transcribe", "--model", "digits", "--vtln", str(raised)]) == 0
    assert _warp_line(capsys.readouterr().err) < as_recorded


def test_vtln_reports_a_bad_clip_and_decodes_the_rest(data_root, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    good = [data_root / "fsdd" / "recordings" / f"{d}_theo_0.wav" for d in (1, 7)]
    code = speech_main(["transcribe", "--model", "digits", "--vtln", str(bad), *map(str, good)])
    out, err = capsys.readouterr()
    assert code == 1  # some inputs failed, the others were done
    assert "broken.wav" in err and "from 2 clip" in err and "Traceback" not in err
    assert [line.split("\t")[1] for line in out.splitlines()] == ["one", "seven"]


@pytest.mark.parametrize("extra, message", [
    (["--model", "an4"], "needs a closed vocabulary"),
    (["--model", "digits", "--runtime", "onnx"], "ONNX runtime has no warp"),
    (["--model", "digits", "--stream"], "does not go with --stream"),
])
def test_vtln_usage_errors_are_one_line(tmp_path, capsys, extra, message):
    wav = tmp_path / "x.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(8000) * 0.2)).astype(np.float32), 8000)
    assert speech_main(["transcribe", "--vtln", *extra, str(wav)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_vtln_with_a_manifest_is_a_usage_error(tmp_path, capsys):
    m = tmp_path / "m.jsonl"
    m.write_text('{"audio": "x.wav"}\n')
    assert speech_main(["transcribe", "--model", "digits", "--vtln", "--manifest", str(m)]) == 2
    assert "not --manifest" in capsys.readouterr().err
