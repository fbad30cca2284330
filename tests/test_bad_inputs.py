"""The bad-input table of the README, row by row: each row is run through the ``speech`` command and
must give exactly what the row says (exit status and the line the user sees), with no traceback.

The README is the specification: a row without a setup here fails, and so does a setup without a
row. In the README's "what the user sees" column, ``<...>`` stands for any text (a path, a number)
and everything else must appear as written.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from speech.cli.main import main

README = Path(__file__).resolve().parents[1] / "README.md"
SR = 8000


# ----------------------------------------------------------------------------- the README's table
def readme_rows() -> list[dict]:
    """Rows of the table between ``<!-- bad-input-table -->`` markers: case, input, exit, sees."""
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- bad-input-table -->(.*?)<!-- /bad-input-table -->", text, re.S)
    if not m:  # reported by test_every_row_has_a_setup_and_every_setup_a_row
        return []
    rows = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|- :"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if cells[0] == "case":
            continue
        assert len(cells) == 4, line
        rows.append({"case": cells[0], "input": cells[1], "exit": int(cells[2]), "sees": cells[3]})
    return rows


def sees_pattern(sees: str) -> re.Pattern:
    """README cell -> regex: backticks dropped, ``<...>`` any text, the rest literal."""
    sees = sees.strip().strip("`").replace("\\|", "|")
    parts = re.split(r"<[^<>]*>", sees)
    return re.compile(".+?".join(re.escape(p) for p in parts))


# --------------------------------------------------------------------------------------- inputs
@dataclass
class Env:
    tmp: Path
    asr: Path
    voice: Path
    stdin: bytes | None = None
    """Bytes the command reads on stdin (set by :meth:`feed`)."""

    def feed(self, data: bytes, argv: list[str]) -> list[str]:
        self.stdin = data
        return argv

    def wav(self, name: str, seconds: float = 1.0, level: float = 0.1, subtype: str | None = None,
            data: np.ndarray | None = None) -> str:
        if data is None:
            rng = np.random.default_rng(0)
            data = (level * rng.standard_normal(int(seconds * SR))).astype(np.float32)
        path = self.tmp / name
        sf.write(path, data, SR, subtype=subtype)
        return str(path)

    def manifest(self, *lines: str | dict) -> str:
        path = self.tmp / "bad.jsonl"
        path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
        return str(path)

    def train(self, *overrides: str) -> list[str]:
        return ["train", "data=custom", "model.asr.hidden_size=8", "model.asr.num_layers=1", "trainer.max_epochs=1",
                "trainer.progress=false", f"output_dir={self.tmp / 'exp'}", *overrides]

    def good_utterance(self, uid: str = "a") -> dict:
        return {"id": uid, "audio": self.wav(f"{uid}.wav"), "duration": 1.0, "text": "one two"}

    def evil_package(self, config_edit: Callable[[str], str] | None = None, weights: bytes | None = None) -> str:
        pkg = self.tmp / "evil"
        shutil.copytree(self.asr, pkg)
        if config_edit is not None:
            (pkg / "config.yaml").write_text(config_edit((pkg / "config.yaml").read_text()))
        if weights is not None:  # a package in the legacy layout (model.pt) whose weights file is bad
            for f in pkg.glob("model.safetensors"):
                f.unlink()
            (pkg / "model.pt").write_bytes(weights)
        return str(pkg)


def _transcribe(env: Env, *paths: str) -> list[str]:
    return ["transcribe", *paths, "--model", str(env.asr), "--no-progress"]


def _synth(env: Env, *args: str) -> list[str]:
    return ["synthesize", *args, "--model", str(env.voice), "--gl-iters", "1"]


class _Reduce:
    """Unpickling this would run a command (the pickle-in-the-weights attack)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _legacy_weights(env: Env) -> bytes:
    """The tiny package's weights as a legacy ``model.pt`` (torch.save of the state dict)."""
    path = env.tmp / "legacy.pt"
    torch.save(load_file(env.asr / "model.safetensors"), path)
    return path.read_bytes()


def _pickled_weights(env: Env) -> bytes:
    path = env.tmp / "evil.pt"
    torch.save({"w": _Reduce(env.tmp / "PWNED")}, path)
    return path.read_bytes()


def _fifo(env: Env) -> str:
    path = env.tmp / "pipe.wav"
    os.mkfifo(path)
    return str(path)


def _nan(env: Env) -> str:
    x = 0.1 * np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    x[100:200] = np.nan
    return env.wav("nan.wav", data=x, subtype="FLOAT")


def _truncated(env: Env) -> str:
    path = Path(env.wav("cut.wav", seconds=2.0))
    data = path.read_bytes()
    path.write_bytes(data[: 44 + (len(data) - 44) // 2])
    return str(path)


def _corrupt_checkpoint(env: Env) -> list[str]:
    ckpt = env.tmp / "exp" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "last.pt").write_bytes(b"PK\x03\x04 half a checkpoint")
    return env.train(f"data.train_manifest={env.manifest(*(env.good_utterance(u) for u in 'abcdef'))}",
                     "data.dev_fraction=0.0")


def _batch_file(env: Env) -> list[str]:
    path = env.tmp / "prompts.tsv"
    path.write_text("one\tHello there.\nno separator here\n")
    return _synth(env, "--batch", str(path), "-o", str(env.tmp / "out"))


# case (the README's first column) -> the command line that exercises it
def _onnx_export(env: Env) -> str:
    from speech.export.api import export_model

    return str(export_model(env.asr, env.tmp / "onnx", measure=False).path)


def _without(env: Env, name: str) -> str:
    pkg = env.tmp / "pkg"
    shutil.copytree(env.asr, pkg)
    (pkg / name).unlink()
    return str(pkg)


SETUPS: dict[str, Callable[[Env], list[str]]] = {
    # audio
    "missing audio file": lambda e: _transcribe(e, str(e.tmp / "nowhere.wav")),
    "empty (0-byte) file": lambda e: _transcribe(e, _touch(e.tmp / "empty.wav")),
    "text file named .wav": lambda e: _transcribe(e, _write(e.tmp / "notes.wav", b"this is not audio\n" * 20)),
    "headerless .raw": lambda e: _transcribe(e, _write(e.tmp / "take.raw", b"\x00\x01" * 4000)),
    "FIFO (named pipe)": lambda e: _transcribe(e, _fifo(e)),
    "NaN / Inf samples": lambda e: _transcribe(e, _nan(e)),
    "folder without audio": lambda e: _transcribe(e, str(_mkdir(e.tmp / "docs"))),
    "one bad file among good ones": lambda e: _transcribe(e, e.wav("good.wav"), str(e.tmp / "gone.wav")),
    "10 minutes of digital silence": lambda e: _transcribe(e, e.wav("zeros.wav", data=np.zeros(600 * SR, np.float32))),
    "0.01 s clip": lambda e: _transcribe(e, e.wav("blip.wav", seconds=0.01)),
    "truncated WAV": lambda e: _transcribe(e, _truncated(e)),
    "option out of range": lambda e: _transcribe(e, e.wav("good.wav")) + ["--batch-size", "0"],
    "GPU asked for, none here": lambda e: _transcribe(e, e.wav("good.wav")) + ["--device", "cuda"],
    # model packages
    "recognizer not named": lambda e: ["transcribe", e.wav("good.wav")],
    "unknown model name": lambda e: ["transcribe", e.wav("good.wav"), "--model", "digitz"],
    "stdin that is not audio": lambda e: e.feed(b"hello\n", _transcribe(e, "-")),
    "unwritable output folder": lambda e: _transcribe(e, e.wav("good.wav")) + [
        "--output-dir", str(Path(_write(e.tmp / "notes.txt", b"x")) / "out")],
    "several subtitle documents, no folder": lambda e: _transcribe(e, e.wav("a.wav"), e.wav("b.wav")) + [
        "--format", "srt"],
    "transcribe manifest line that is not JSON": lambda e: ["transcribe", "--manifest", _write(
        e.tmp / "m.jsonl", (json.dumps({"audio": e.wav("a.wav")}) + "\n{oops\n").encode()), "--model", str(e.asr)],
    "model package not found": lambda e: ["transcribe", e.wav("good.wav"), "--model", str(e.tmp / "no-model")],
    "package config names another callable": lambda e: _transcribe(e, e.wav("good.wav"))[:-3] + [
        "--model", e.evil_package(lambda t: t.replace("speech.models.asr.bilstm_ctc", "speech.fileio.atomic_write_text"))],
    "package config passes `_args_`": lambda e: _transcribe(e, e.wav("good.wav"))[:-3] + [
        "--model", e.evil_package(lambda t: t.replace("_target_: speech.models.asr.bilstm_ctc",
                                                      "_target_: speech.models.asr.bilstm_ctc\n    _args_: [1, 2]"))],
    "pickle in the weights": lambda e: _transcribe(e, e.wav("good.wav"))[:-3] + [
        "--model", e.evil_package(weights=_pickled_weights(e))],
    "truncated weights": lambda e: _transcribe(e, e.wav("good.wav"))[:-3] + [
        "--model", e.evil_package(weights=_legacy_weights(e)[:500])],
    "voice package given to transcribe": lambda e: ["transcribe", e.wav("good.wav"), "--model", str(e.voice)],
    "recognizer given to synthesize": lambda e: ["synthesize", "Hello.", "-o", str(e.tmp / "x.wav"),
                                                 "--model", str(e.asr)],
    "recognizer given as the vocoder": lambda e: _synth(e, "Hello.", "-o", str(e.tmp / "x.wav"), "--vocoder", str(e.asr)),
    # configs
    "value of the wrong type": lambda e: e.train("trainer.lr=abc"),
    "misspelt key": lambda e: e.train("trainer.max_epoch=3"),
    "impossible size": lambda e: e.train("model.asr.hidden_size=-5"),
    "unknown group option": lambda e: e.train("trainer=gpuu"),
    "GPU training on a CPU machine": lambda e: e.train("trainer.device=cuda"),
    # manifests
    "manifest line that is not JSON": lambda e: e.train(
        f"data.train_manifest={e.manifest(e.good_utterance(), '{oops')}"),
    "empty transcript": lambda e: e.train(
        f"data.train_manifest={e.manifest(e.good_utterance(), {**e.good_utterance('b'), 'text': ' '})}"),
    "audio named in a manifest is missing": lambda e: e.train(
        f"data.train_manifest={e.manifest(e.good_utterance(), {**e.good_utterance('b'), 'audio': str(e.tmp / 'x.wav')})}"),
    "duration contradicts the audio": lambda e: e.train(
        f"data.train_manifest={e.manifest(e.good_utterance(), {**e.good_utterance('b'), 'duration': 5000})}"),
    "characters outside the alphabet": lambda e: e.train(
        f"data.train_manifest={e.manifest(e.good_utterance(), {**e.good_utterance('b'), 'text': 'zéro ☃ 42 ŋ'})}"),
    # checkpoints
    "corrupt last checkpoint, nothing intact": _corrupt_checkpoint,
    # text
    "empty text": lambda e: _synth(e, "   ", "-o", str(e.tmp / "x.wav")),
    "nothing pronounceable": lambda e: _synth(e, "☃ ☃ ☃", "-o", str(e.tmp / "x.wav")),
    "control characters in text": lambda e: _synth(e, "Hello \x1b[31m world \x07 ✓", "-o", str(e.tmp / "x.wav")),
    "speed out of range": lambda e: _synth(e, "Hello.", "-o", str(e.tmp / "x.wav"), "--speed", "0"),
    "output format unknown": lambda e: _synth(e, "Hello.", "-o", str(e.tmp / "out.xyz")),
    "text file not UTF-8": lambda e: _synth(e, "--text-file", _write(e.tmp / "latin1.txt", "café".encode("latin-1")),
                                             "-o", str(e.tmp / "x.wav")),
    "batch line without a separator": _batch_file,
    "torch package to the ONNX runtime": lambda e: ["transcribe", e.wav("good.wav"), "--runtime", "onnx", "--model",
                                                    "digits"],
    "ONNX export to the torch path": lambda e: ["transcribe", e.wav("good.wav"), "--model", _onnx_export(e)],
    "export of a package missing a file": lambda e: ["export", _without(e, "tokenizer.json"), "-o", str(e.tmp / "o")],
    "export of a kind that cannot export": lambda e: ["export", "g2p", "-o", str(e.tmp / "o")],
    "opset the installed onnx cannot write": lambda e: ["export", "digits", "--opset", "99", "-o", str(e.tmp / "o")],
    "speaker out of range": lambda e: _synth(e, "Hello.", "-o", str(e.tmp / "x.wav"), "--speaker", "3"),
    "synthesis output under a file": lambda e: _synth(e, "Hello.", "-o", str(Path(_write(e.tmp / "notes.txt", b"x"))
                                                                               / "x.wav")),
    "JSON-lines batch line that is not JSON": lambda e: _synth(e, "--batch", _write(
        e.tmp / "prompts.jsonl", b'{"text": "Hello.", "output": "a.wav"}\n{oops\n'), "-o", str(e.tmp / "out")),
}


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _touch(path: Path) -> str:
    path.write_bytes(b"")
    return str(path)


def _mkdir(path: Path) -> Path:
    path.mkdir()
    (path / "readme.txt").write_text("no audio here\n")
    return path


@pytest.fixture(scope="module")
def voice(tiny_voice) -> Path:
    return tiny_voice


ROWS = readme_rows()


def test_every_row_has_a_setup_and_every_setup_a_row():
    cases = [r["case"] for r in ROWS]
    assert len(cases) == len(set(cases)), "duplicate rows"
    assert set(cases) == set(SETUPS), (set(cases) ^ set(SETUPS))


@pytest.mark.parametrize("row", ROWS, ids=[r["case"] for r in ROWS])
def test_bad_input_row(row, tiny_package, voice, tmp_path, capsys, monkeypatch):
    if row["case"] not in SETUPS:
        pytest.fail(f"README row {row['case']!r} has no setup in {__file__}")
    if "GPU" in row["case"] and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPEECH_DEBUG", raising=False)
    env = Env(tmp_path, tiny_package, voice)
    argv = SETUPS[row["case"]](env)
    if env.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(env.stdin)))
    before = {p for p in tmp_path.rglob("*")}
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("speech: ")]
    print(f"{row['case']}: exit {code}\n{err}")
    assert "Traceback" not in err
    assert code == row["exit"], err
    pattern = sees_pattern(row["sees"])
    assert any(pattern.search(ln) for ln in lines), f"expected {pattern.pattern!r} in:\n{err}"
    errors = [ln for ln in lines if ln.startswith("speech: error: ")]
    assert code == 0 or errors, err
    assert not (tmp_path / "PWNED").exists(), "a package ran a command"
    if "package" in row["case"] or "pickle" in row["case"] or "weights" in row["case"]:
        assert {p for p in tmp_path.rglob("*")} == before, "loading a package wrote a file"
