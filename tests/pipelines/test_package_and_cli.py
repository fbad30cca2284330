"""Model packages and the `speech transcribe` command, on an (untrained) tiny package."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.cli.main import main
from speech.config import compose, instantiate
from speech.packages.asr import load_asr_package, save_asr_package
from speech.packages.format import PackageError
from speech.pipelines.transcriber import Transcriber
from speech.text.tokenizer import CharTokenizer


@pytest.fixture(scope="module")
def package(tiny_package) -> Path:
    return tiny_package


@pytest.fixture()
def audio_dir(tmp_path) -> Path:
    d = tmp_path / "audio"
    (d / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        sf.write(d / f"tone{i}.wav", (0.1 * rng.standard_normal(8000 + 1000 * i)).astype(np.float32), 8000)
    sf.write(d / "sub" / "deep.flac", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    return d


def test_package_round_trip(package):
    pkg = load_asr_package(package)
    assert pkg.sample_rate == 8000 and len(pkg.tokenizer) == len(CharTokenizer.build(["zero", "one", "two", "three"]))
    assert torch.equal(pkg.model.cmvn.mean, torch.full((80,), -5.0))
    assert not pkg.model.training
    assert json.loads((package / "meta.json").read_text())["format"] == "speech-asr-package"
    tr = Transcriber(pkg)
    a = tr.transcribe_arrays([np.zeros(4000, np.float32), 0.1 * np.ones(9000, np.float32)])
    b = [tr.transcribe_arrays([w])[0] for w in (np.zeros(4000, np.float32), 0.1 * np.ones(9000, np.float32))]
    assert a == b  # batching (with padding) does not change results
    assert tr.real_time_factor > 0


def test_package_errors_name_the_file(package, tmp_path):
    with pytest.raises(PackageError, match="not found"):
        load_asr_package(tmp_path / "nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in ("config.yaml", "tokenizer.json"):
        (broken / f).write_bytes((package / f).read_bytes())
    with pytest.raises(PackageError, match=r"model\.(pt|safetensors)"):  # the weights file it expected
        load_asr_package(broken)
    (broken / "model.pt").write_bytes(b"garbage")
    with pytest.raises(PackageError, match="model.pt"):
        load_asr_package(broken)


def test_package_refuses_foreign_targets(package, tmp_path):
    evil = tmp_path / "evil"
    evil.mkdir()
    for f in package.iterdir():  # everything but the config (weights as model.safetensors or model.pt)
        if f.name != "config.yaml":
            (evil / f.name).write_bytes(f.read_bytes())
    text = (package / "config.yaml").read_text().replace("speech.models.asr.bilstm_ctc", "os.system")
    (evil / "config.yaml").write_text(text)
    with pytest.raises(PackageError, match="os.system"):
        load_asr_package(evil)


def test_transcribe_files_folders_globs(package, audio_dir, capsys):
    rc = main(["transcribe", str(audio_dir / "tone0.wav"), str(audio_dir / "sub"), str(audio_dir / "tone[12].wav"),
               "--model", str(package), "--no-progress"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert [line.split("\t")[0] for line in out] == [
        str(audio_dir / "tone0.wav"), str(audio_dir / "sub" / "deep.flac"),
        str(audio_dir / "tone1.wav"), str(audio_dir / "tone2.wav")]
    assert all(line.count("\t") == 1 for line in out)


def test_single_file_prints_only_text_and_json_format(package, audio_dir, capsys):
    assert main(["transcribe", str(audio_dir / "tone0.wav"), "--model", str(package)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "\t" not in out[0]
    assert main(["transcribe", str(audio_dir), "--model", str(package), "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4 and all({"path", "text", "duration"} <= set(r) for r in rows)
    assert rows[0]["duration"] == pytest.approx(1.0)


def test_bad_files_are_reported_and_the_rest_transcribed(package, audio_dir, capsys):
    (audio_dir / "empty.wav").write_bytes(b"")
    (audio_dir / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 3)
    rc = main(["transcribe", str(audio_dir / "tone0.wav"), str(audio_dir / "empty.wav"), str(audio_dir / "corrupt.wav"),
               str(audio_dir / "missing.wav"), str(audio_dir / "tone1.wav"), "--model", str(package)])
    cap = capsys.readouterr()
    assert rc == 1
    assert [line.split("\t")[0] for line in cap.out.splitlines()] == [str(audio_dir / "tone0.wav"),
                                                                     str(audio_dir / "tone1.wav")]
    errs = cap.err.strip().splitlines()
    for name in ("empty.wav", "corrupt.wav", "missing.wav"):
        assert sum(name in e for e in errs) == 1, cap.err
    assert "3 of 5 inputs failed" in errs[-1]


def test_missing_package_is_a_one_line_error(audio_dir, tmp_path, capsys):
    assert main(["transcribe", str(audio_dir / "tone0.wav"), "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]


def test_console_script_runs(package, audio_dir):
    exe = Path(sys.executable).parent / "speech"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "speech.cli.main"]
    r = subprocess.run(cmd + ["transcribe", str(audio_dir / "tone0.wav"), "--model", str(package)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1
