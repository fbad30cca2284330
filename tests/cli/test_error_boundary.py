"""The command line's one error boundary: one line per error, an exit status per kind, tracebacks
only on request, and nothing a file name or a text holds can break a line or drive the terminal."""
import errno
import unicodedata

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import speech.cli.asr as commands
import speech.cli.main as cli
from speech.cli.errors import (
    BAD_INPUT,
    INTERNAL,
    INTERRUPTED,
    MACHINE,
    classify,
    printable,
)
from speech.device import DeviceError


def _raising(exc):
    def cmd(args):
        raise exc
    return cmd


def _run(monkeypatch, capsys, exc, *extra, env_debug=None):
    monkeypatch.setattr(commands, "cmd_lm", _raising(exc))
    if env_debug is not None:
        monkeypatch.setenv("SPEECH_DEBUG", env_debug)
    else:
        monkeypatch.delenv("SPEECH_DEBUG", raising=False)
    code = cli.main(["lm", "in.txt", "out.arpa", *extra])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("exc, code, words", [
    (ValueError("data/x.jsonl:3: empty transcript; expected text"), BAD_INPUT, "x.jsonl:3"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "corpus/a.txt"), BAD_INPUT, "corpus/a.txt"),
    (OSError(errno.ENOSPC, "No space left on device", "exp/model.pt"), MACHINE, "No space left"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), MACHINE, "/root/x"),
    (MemoryError(), MACHINE, "out of memory"),
    (DeviceError("--device: cuda requested but CUDA is not available on this machine"), MACHINE, "CUDA"),
    (TypeError("unsupported operand type(s)\nsecond line"), INTERNAL, "internal error: TypeError"),
    (KeyError("oops"), INTERNAL, "--debug"),
    (KeyboardInterrupt(), INTERRUPTED, "interrupted"),
])
def test_each_kind_of_error_is_one_line_and_its_own_status(monkeypatch, capsys, exc, code, words):
    got, err = _run(monkeypatch, capsys, exc)
    assert got == code
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("speech: error: ") and words in lines[0], err
    assert "Traceback" not in err


def test_debug_shows_the_traceback_after_the_line(monkeypatch, capsys):
    code, err = _run(monkeypatch, capsys, TypeError("boom"), "--debug")
    assert code == INTERNAL and err.startswith("speech: error: internal error: TypeError: boom")
    assert "Traceback (most recent call last)" in err and "in cmd" in err
    code, err = _run(monkeypatch, capsys, TypeError("boom"), env_debug="1")
    assert "Traceback (most recent call last)" in err
    code, err = _run(monkeypatch, capsys, TypeError("boom"), env_debug="0")
    assert "Traceback" not in err


def test_debug_before_the_command_is_kept(monkeypatch, capsys):
    monkeypatch.setattr(commands, "cmd_lm", _raising(TypeError("boom")))
    monkeypatch.delenv("SPEECH_DEBUG", raising=False)
    assert cli.main(["--debug", "lm", "a", "b"]) == INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_audio_and_package_errors_are_bad_input():
    from speech.audio import CorruptAudioError
    from speech.packages.format import PackageError

    assert classify(CorruptAudioError("a.wav", "not audio; expected a WAV file"))[0] == BAD_INPUT
    assert classify(PackageError("pkg/config.yaml: nope"))[0] == BAD_INPUT


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_printable_is_one_line_without_control_characters(text):
    out = printable(text)
    assert len(out.splitlines()) <= 1
    assert not any(unicodedata.category(c) == "Cc" for c in out)
    assert out == text or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def test_file_name_with_a_newline_keeps_one_line_per_file(tiny_package, tmp_path, capsys):
    rng = np.random.default_rng(0)
    names = ["plain.wav", "two\nlines.wav", "esc\x1b[31m.wav"]
    for n in names:
        sf.write(tmp_path / n, (0.1 * rng.standard_normal(8000)).astype(np.float32), 8000)
    code = cli.main(["transcribe", *(str(tmp_path / n) for n in names), "--model", str(tiny_package),
                     "--no-progress"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(out) == 3 and all(line.count("\t") == 1 for line in out), out
    assert out[1].split("\t")[0] == str(tmp_path / "two\\nlines.wav")
    assert "\x1b" not in "".join(out)


def test_missing_file_in_a_batch_names_it_and_the_rest_go_on(tiny_package, tmp_path, capsys):
    sf.write(tmp_path / "ok.wav", np.zeros(8000, np.float32) + 0.05, 8000)
    code = cli.main(["transcribe", str(tmp_path / "ok.wav"), str(tmp_path / "gone\n.wav"),
                     "--model", str(tiny_package), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert len(captured.out.splitlines()) == 1
    errs = captured.err.splitlines()
    assert any("gone\\n.wav" in e for e in errs) and all(e.startswith("speech: ") for e in errs)


@pytest.mark.parametrize("command", [["transcribe", "x.wav", "--model", "m"], ["synthesize", "hi", "-o", "x.wav",
                                                                              "--model", "m"]])
def test_a_gpu_this_machine_lacks_is_one_line_before_loading(command, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert cli.main([*command, "--device", "cuda"]) == MACHINE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--device: cuda requested but CUDA is not available" in err[0], err
    assert cli.main([*command, "--device", "tpu:0"]) == MACHINE
    assert "is not a device" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["transcribe", "x.wav", "--model", "m", "--batch-size", "0"], "--batch-size: '0': expected an integer >= 1"),
    (["transcribe", "x.wav", "--model", "m", "--max-segment", "-1"], "--max-segment: '-1': expected a number >= 1"),
    (["transcribe", "x.wav", "--model", "m", "--lm-weight", "inf"], "--lm-weight: 'inf': expected a number"),
    (["synthesize", "hi", "-o", "x.wav", "--model", "m", "--speed", "nan"], "--speed: 'nan': expected a number"),
    (["transcribe", "x.wav"], "speech transcribe: no --model given: recognition models are domain models"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
])
def test_usage_errors_are_one_line(argv, words, capsys):
    assert cli.main(argv) == BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("speech: error: speech") and words in err[0], err
    assert err[0].endswith("--help)")


def test_help_still_exits_zero(capsys):
    assert cli.main(["transcribe", "--help"]) == 0
    assert "--speech-floor" in capsys.readouterr().out
