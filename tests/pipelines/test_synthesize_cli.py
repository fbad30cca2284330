"""`speech synthesize` / `speech evaluate-tts` and `evaluate_voice`, on an untrained tiny voice package
(its audio is noise-like; these tests check the plumbing: inputs, outputs, errors, exit codes)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.cli.main import main

SENTENCE = "The birch canoe slid on the smooth planks"
FAST = ["--gl-iters", "2"]  # Griffin-Lim iterations: quality does not matter here, speed does


@pytest.fixture(scope="module")
def voice(tiny_voice) -> Path:
    return tiny_voice


def _synth(voice, *args) -> list[str]:
    return ["synthesize", *args, "--model", str(voice), *FAST]


def _wav(path: Path) -> tuple[np.ndarray, int]:
    assert path.is_file(), path
    wav, sr = sf.read(path)
    return wav, sr


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("speech: error:")
    return lines[0]


def test_text_argument_writes_wav_at_package_rate(voice, tmp_path, capsys):
    out = tmp_path / "hello.wav"
    assert main(_synth(voice, SENTENCE + ". And a second sentence!", "-o", str(out))) == 0
    wav, sr = _wav(out)
    assert sr == 22050 and len(wav) > 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(out)) and " s\t" in line and "RTF" in line


def test_stdin_and_text_file(voice, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(SENTENCE + "\n"))
    assert main(_synth(voice, "-", "-o", str(tmp_path / "stdin.wav"))) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(SENTENCE + "\n"))  # TEXT omitted, stdin not a terminal
    assert main(_synth(voice, "-o", str(tmp_path / "stdin2.wav"))) == 0
    f = tmp_path / "text.txt"
    f.write_text("First line of the file.\nSecond line, " + SENTENCE.lower() + ".\n", encoding="utf-8")
    assert main(_synth(voice, "--text-file", str(f), "-o", str(tmp_path / "file.wav"))) == 0
    for name in ("stdin.wav", "stdin2.wav", "file.wav"):
        assert len(_wav(tmp_path / name)[0]) > 0
    capsys.readouterr()
    assert main(_synth(voice, "--text-file", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "x.wav"))) == 2
    assert "missing.txt" in _one_line_error(capsys.readouterr().err)


def test_batch_reports_bad_lines_and_finishes_the_rest(voice, tmp_path, capsys):
    batch = tmp_path / "prompts.tsv"
    batch.write_text("a1\tHello there.\n"
                     "this line has no separator\n"
                     "p2|!!! ...\n"
                     "b3|" + SENTENCE + ".\n"
                     "a1\tduplicate id\n"
                     "../evil\tunsafe id\n", encoding="utf-8")
    out = tmp_path / "out"
    rc = main(_synth(voice, "--batch", str(batch), "-o", str(out), "--plot"))
    cap = capsys.readouterr()
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["a1.png", "a1.wav", "b3.png", "b3.wav"]
    assert all(len(_wav(out / f)[0]) > 0 for f in ("a1.wav", "b3.wav"))
    assert "Traceback" not in cap.err
    errs = cap.err.strip().splitlines()
    for n in (2, 3, 5, 6):
        assert sum(f"prompts.tsv:{n}:" in e for e in errs) == 1, cap.err
    assert "duplicate" in cap.err and "nothing to synthesize" in cap.err
    assert "4 of 6 lines failed" in errs[-1]
    summary = cap.out.strip().splitlines()[-1]
    assert summary.startswith("2 written, 4 failed,") and "s of audio" in summary and "RTF" in summary

    good = tmp_path / "good.tsv"
    good.write_text("# comment\nx1\tHi.\n\nx2|Bye.\n", encoding="utf-8")
    assert main(_synth(voice, "--batch", str(good), "-o", str(tmp_path / "good"))) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("2 written, 0 failed")


@pytest.mark.parametrize("text", ["", "   ", "?!... ---", "😀🎉", "\U0001F600"])
def test_nothing_to_pronounce_is_a_one_line_error(voice, tmp_path, capsys, text):
    out = tmp_path / "x.wav"
    assert main(_synth(voice, text, "-o", str(out))) == 2
    assert "nothing to synthesize" in _one_line_error(capsys.readouterr().err)
    assert not out.exists()


def test_missing_package_names_the_path(tmp_path, capsys):
    rc = main(["synthesize", "hello", "-o", str(tmp_path / "x.wav"), "--model", str(tmp_path / "no_such_voice")])
    assert rc == 2
    assert "no_such_voice" in _one_line_error(capsys.readouterr().err)


def test_bad_controls_are_one_line_errors(voice, tmp_path, capsys):
    assert main(_synth(voice, "hello", "-o", str(tmp_path / "x.wav"), "--speed", "0")) == 2
    assert "--speed" in _one_line_error(capsys.readouterr().err)
    assert main(_synth(voice, "hello", "-o", str(tmp_path / "x.wav"), "--vocoder", "wavenet")) == 2
    assert "wavenet" in _one_line_error(capsys.readouterr().err)


def test_plot_writes_png(voice, tmp_path, capsys):
    out, png = tmp_path / "p.wav", tmp_path / "plots" / "p.png"
    assert main(_synth(voice, SENTENCE, "-o", str(out), "--plot", str(png), "--speed", "0.8",
                       "--pitch-shift", "2", "--energy-scale", "1.2")) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.is_file()


def test_unknown_characters_and_guessed_words_are_reported(voice, tmp_path, capsys):
    out = tmp_path / "u.wav"
    assert main(_synth(voice, "Hello ☃ world, said Zorblaxington.", "-o", str(out))) == 0
    err = capsys.readouterr().err
    assert "☃" in err and "could not pronounce" in err
    assert "not in the dictionary, guessed: zorblaxington" in err
    assert len(_wav(out)[0]) > 0


def test_ten_thousand_characters(voice, tmp_path, capsys):
    one, long = tmp_path / "one.wav", tmp_path / "long.wav"
    text = " ".join([SENTENCE.lower()] * 300)[:10_000]
    assert len(text) == 10_000
    assert main(_synth(voice, SENTENCE, "-o", str(one), "--gl-iters", "0")) == 0
    assert main(_synth(voice, text, "-o", str(long), "--gl-iters", "0")) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert len(_wav(long)[0]) > 20 * len(_wav(one)[0])


def test_console_script(voice, tmp_path):
    exe = Path(sys.executable).parent / "speech"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "speech.cli.main"]
    out = tmp_path / "cs.wav"
    r = subprocess.run(cmd + _synth(voice, "-o", str(out)), input=SENTENCE + ".\n", capture_output=True, text=True,
                       timeout=120, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    assert _wav(out)[1] == 22050
    r = subprocess.run(cmd + _synth(voice, "😀", "-o", str(out)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------- evaluate_voice

KATHLEEN_IDS = ["arctic_a0001_1592748574", "arctic_a0002_1592748530"]


@pytest.fixture(scope="module")
def kathleen(data_root) -> Path:
    root = data_root / "kathleen"
    if not (root / "audio" / f"{KATHLEEN_IDS[0]}.flac").is_file():
        msg = f"Kathleen corpus not found at {root} (expected audio/{KATHLEEN_IDS[0]}.flac + .txt)"
        if os.environ.get("SPEECH_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture(scope="module")
def fast_vocoder():
    from speech.features import tts_fbank
    from speech.packages.vocoder import load_vocoder

    return load_vocoder("griffin-lim", tts_fbank(), n_iter=2)


class FakeRecognizer:
    def __init__(self):
        self.calls = 0

    def transcribe(self, wav, sr):
        assert sr == 22050 and wav.ndim == 1
        self.calls += 1
        return "author of the danger trail"


def test_evaluate_tts_cli_writes_report_and_wavs(voice, kathleen, tmp_path, capsys):
    """`speech evaluate-tts --no-asr` = evaluate_voice(..., recognizer=None) plus the summary table."""
    out = tmp_path / "ev"
    rc = main(["evaluate-tts", "--model", str(voice), "--corpus", str(kathleen), "--ids", ",".join(KATHLEEN_IDS),
               "--out", str(out), "--no-asr", "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    table = {line.split("  ")[0]: line.split("  ", 1)[1].strip() for line in cap.out.strip().splitlines()}
    assert table["utterances"] == "2 (given ids)"
    assert table["MCD mel-fbank"].endswith(" dB") and "Hz" in table["F0 RMSE"] and "RTF" in table
    assert table["MCD WORLD (standard)"].endswith(" dB")
    assert table["recognizer WER"].startswith("skipped") and "voicing error" in table
    for f in ("tts_eval.json", "tts_eval.tsv"):
        assert (out / f).is_file()
    rows = (out / "tts_eval.tsv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("id\tmcd_db") and "hyp_real" not in rows[0]
    report = json.loads((out / "tts_eval.json").read_text())
    assert report["utterances"] == 2 and np.isfinite(report["mcd_db"]) and report["rtf"] > 0
    assert "wer_real" not in report
    for uid in KATHLEEN_IDS:
        wav, sr = _wav(out / "wavs" / f"{uid}.wav")
        assert sr == 22050 and len(wav) > 0


def test_evaluate_voice_with_a_recognizer_and_limit(voice, kathleen, fast_vocoder, tmp_path):
    from speech.pipelines.evaluate_tts import evaluate_voice

    rec = FakeRecognizer()
    r = evaluate_voice(voice, kathleen, ids=KATHLEEN_IDS, out_dir=tmp_path / "ev", vocoder=fast_vocoder,
                       recognizer=rec, limit=1, progress=False)
    assert r["utterances"] == 1 and rec.calls == 2  # real + synthesized
    assert 0.0 <= r["wer_real"] < 1.0 and r["wer_real"] == r["wer_synth"]  # "etc." is not recognized
    assert r["rows"][0]["hyp_synth"] == "author of the danger trail"
    assert "hyp_real" in (tmp_path / "ev" / "tts_eval.tsv").read_text().splitlines()[0]
    with pytest.raises(ValueError, match="not in the corpus"):
        evaluate_voice(voice, kathleen, ids=["no_such_id"], out_dir=tmp_path / "x", recognizer=None)


def test_evaluate_tts_cli_errors(voice, tmp_path, capsys):
    assert main(["evaluate-tts", "--model", str(tmp_path / "nope"), "--no-asr"]) == 2
    assert "nope" in _one_line_error(capsys.readouterr().err)
    assert main(["evaluate-tts", "--model", str(voice), "--no-asr", "--quiet"]) == 2  # meta corpus "nowhere"
    assert "nowhere" in _one_line_error(capsys.readouterr().err)
