"""``speech transcribe``'s command-line conventions (issue 14): --model NAME|PATH and the no-model
message, every --format written per input under --output-dir, output names that never collide,
no concatenated subtitles on stdout, '-' for stdin, --manifest in / pred_text out, exit statuses.

The package is a tiny untrained BiLSTM whose output layer always says 'o': every clip with speech-like
energy is transcribed as the one word "o" (so documents have a known cue), whatever the audio.
"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.cli import outputs
from speech.cli.asr import decoding_from_args, split_decoding_overrides
from speech.cli.errors import BAD_INPUT, BATCH_FAILED, OK
from speech.cli.main import main
from speech.cli.parser import parse_args
from speech.config import compose, instantiate
from speech.packages.asr import save_asr_package
from speech.pipelines.subtitles import to_tsv, transcript_cues
from speech.pipelines.transcriber import Transcript
from speech.text.tokenizer import CharTokenizer

SR = 8000


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    """A folder of bundled models holding 'digits', a recognizer that always answers 'o'."""
    root = tmp_path_factory.mktemp("pretrained")
    cfg = compose(["experiment=fsdd", "model.asr.hidden_size=16", "model.asr.num_layers=1"])
    tok = CharTokenizer.build(["zero", "one", "two", "three"])
    model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=len(tok), specaugment=None)
    state = model.state_dict()
    state["output.weight"] = torch.zeros_like(state["output.weight"])
    state["output.bias"] = torch.zeros_like(state["output.bias"])
    state["output.bias"][[tok.decode([i]) for i in range(len(tok))].index("o")] = 20.0
    meta = {"bundled": {"name": "digits", "task": "asr", "domain": "English digits 0-9, 8 kHz",
                        "summary": "test stand-in", "numbers": {"test WER": "1%"}, "default": False}}
    save_asr_package(root / "digits", cfg, tok, state, meta)
    return root


@pytest.fixture()
def pretrained(bundled, monkeypatch) -> Path:
    monkeypatch.setenv("SPEECH_PRETRAINED_DIR", str(bundled))
    return bundled / "digits"


def clip(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32), SR)
    return path


def wav_bytes(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, (0.1 * np.random.default_rng(1).standard_normal(int(seconds * SR))).astype(np.float32), SR,
             format="WAV")
    return buf.getvalue()


def one_error(capsys, *words: str) -> str:
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("speech: error: "), err
    for w in words:
        assert w in err[0], err
    return err[0]


# ------------------------------------------------------------------------- --model
def test_no_model_explains_domain_models_and_lists_the_bundled_ones(pretrained, tmp_path, capsys):
    assert main(["transcribe", str(clip(tmp_path / "a.wav"))]) == BAD_INPUT
    line = one_error(capsys, "domain models", "digits (recognizer: English digits 0-9, 8 kHz)", "or a package folder")
    assert line.endswith("(see speech transcribe --help)")
    assert capsys.readouterr().out == ""


def test_no_model_and_none_installed_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPEECH_PRETRAINED_DIR", str(tmp_path / "empty"))
    assert main(["transcribe", "x.wav"]) == BAD_INPUT
    one_error(capsys, "bundled recognizers: none are installed", "or a package folder")


def test_model_by_name_or_folder_gives_the_same_text(pretrained, tmp_path, capsys):
    a = clip(tmp_path / "a.wav")
    assert main(["transcribe", str(a), "--model", "digits"]) == OK
    by_name = capsys.readouterr().out
    assert main(["transcribe", str(a), "--model", str(pretrained)]) == OK
    assert by_name == capsys.readouterr().out == "o\n"
    assert main(["transcribe", str(a), "--model", "digitz"]) == BAD_INPUT
    one_error(capsys, "digitz", "bundled recognizers: digits")


def test_transcribe_has_version(capsys):
    assert main(["transcribe", "--version"]) == 0
    assert re.fullmatch(r"speech \S+\n", capsys.readouterr().out)


# -------------------------------------------------------------------------- formats
def test_documents_of_each_format():
    r = Transcript("a.wav", "one two", 2.0, words=[{"word": "one", "start": 0.1234, "end": 0.5, "confidence": 1.0},
                                                   {"word": "two", "start": 2.5, "end": 2.9, "confidence": 1.0}])
    assert outputs.render(r, "txt") == "one two\n"
    assert json.loads(outputs.render(r, "json"))["text"] == "one two"
    assert outputs.render(r, "tsv") == "start\tend\ttext\n123\t500\tone\n2500\t2900\ttwo\n"
    assert outputs.render(r, "srt").splitlines()[:3] == ["1", "00:00:00,123 --> 00:00:00,500", "one"]
    assert outputs.render(r, "vtt").startswith("WEBVTT\n\n00:00:00.123 --> 00:00:00.500\none\n")
    # no word times: one cue over the recording; no text: no cue (the header alone)
    assert transcript_cues(None, "one two", 2.0) == [{"start": 0.0, "end": 2.0, "text": "one two"}]
    assert to_tsv(transcript_cues([], "", 2.0)) == "start\tend\ttext\n"


@pytest.mark.parametrize("fmt", ["txt", "json", "srt", "vtt", "tsv"])
def test_one_input_prints_its_document(fmt, pretrained, tmp_path, capsys):
    assert main(["transcribe", str(clip(tmp_path / "a.wav")), "--model", "digits", "--format", fmt]) == OK
    out = capsys.readouterr().out
    if fmt == "tsv":
        lines = out.splitlines()
        assert lines[0] == "start\tend\ttext" and len(lines) == 2
        start, end, text = lines[1].split("\t")
        assert text == "o" and 0 <= int(start) < int(end) <= 1000
    elif fmt == "json":
        assert json.loads(out)["text"] == "o"
    else:
        assert out.count("-->") == (0 if fmt == "txt" else 1) and "o\n" in out


@pytest.mark.parametrize("fmt", ["txt", "json", "srt", "vtt", "tsv", "all"])
def test_output_dir_writes_one_file_per_input_for_every_format(fmt, pretrained, tmp_path, capsys):
    a, b = clip(tmp_path / "in" / "a.wav"), clip(tmp_path / "in" / "b.flac", 1.5, seed=2)
    out = tmp_path / "new" / "out"  # created
    assert main(["transcribe", str(a), str(b), "--model", "digits", "--format", fmt, "--output-dir", str(out)]) == OK
    formats = outputs.FORMATS if fmt == "all" else (fmt,)
    expected = sorted(f"{n}.{f}" for n in ("a", "b") for f in formats)
    assert sorted(p.name for p in out.iterdir()) == expected
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted(f"{src}\t{out / (Path(src).stem + '.' + f)}" for src in (str(a), str(b))
                                   for f in formats)
    for f in formats:
        assert (out / f"b.{f}").read_text() != ""
    if "tsv" in formats:
        rows = (out / "b.tsv").read_text().splitlines()
        assert rows[0] == "start\tend\ttext" and rows[1].endswith("\to") and int(rows[1].split("\t")[1]) <= 1500
    if "txt" in formats:
        assert (out / "a.txt").read_text() == "o\n"


def test_several_subtitle_documents_need_an_output_dir(tmp_path, capsys):
    a, b = clip(tmp_path / "a.wav"), clip(tmp_path / "b.wav")
    for fmt in ("srt", "vtt", "tsv"):  # refused before the (missing) model is loaded
        assert main(["transcribe", str(a), str(b), "--model", str(tmp_path / "no-model"), "--format", fmt]) == BAD_INPUT
        one_error(capsys, f"2 inputs with --format {fmt}", "--output-dir")
    assert main(["transcribe", str(tmp_path), "--model", str(tmp_path / "no-model"), "--format", "srt"]) == BAD_INPUT
    one_error(capsys, "never concatenated")
    assert main(["transcribe", str(a), "--model", str(tmp_path / "no-model"), "--format", "all"]) == BAD_INPUT
    one_error(capsys, "--format all", "--output-dir")
    assert capsys.readouterr().out == ""


def test_several_txt_and_json_inputs_go_to_stdout_one_line_each(pretrained, tmp_path, capsys):
    a, b = clip(tmp_path / "a.wav"), clip(tmp_path / "b.wav")
    assert main(["transcribe", str(a), str(b), "--model", "digits"]) == OK
    assert capsys.readouterr().out.splitlines() == [f"{a}\to", f"{b}\to"]
    assert main(["transcribe", str(a), str(b), "--model", "digits", "--format", "json"]) == OK
    assert [json.loads(line)["path"] for line in capsys.readouterr().out.splitlines()] == [str(a), str(b)]


@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_unwritable_output_dir_is_one_line_naming_it_before_any_work(where, pretrained, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    folder = tmp_path / "f" if where == "a file" else tmp_path / "f" / "out"
    assert main(["transcribe", str(clip(tmp_path / "a.wav")), "--model", "digits", "--output-dir", str(folder)]) \
        == BAD_INPUT
    one_error(capsys, f"--output-dir {folder}:")
    assert capsys.readouterr().out == "" and (tmp_path / "f").read_text() == "x"


# ---------------------------------------------------------------------------- names
def test_output_names_flat_mirrored_then_extension_then_numbered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert outputs.output_names(["a/x.wav", "b/y.wav", "-"]) == {"a/x.wav": "x", "b/y.wav": "y", "-": "stdin"}
    assert outputs.output_names(["d/a/x.wav", "d/b/c/x.wav", "d/z.wav"]) == {
        "d/a/x.wav": "a/x", "d/b/c/x.wav": "b/c/x", "d/z.wav": "z"}
    assert outputs.output_names(["x.wav", "x.flac", "y.wav"]) == {"x.wav": "x.wav", "x.flac": "x.flac", "y.wav": "y"}
    # the same file twice: one name; and a clash left after both rules is numbered in input order
    assert outputs.output_names(["x.wav", "./x.wav"]) == {"x.wav": "x", "./x.wav": "x"}
    got = outputs.output_names(["x.wav", "x.flac", "x.wav.ogg"])
    assert got == {"x.wav": "x.wav", "x.flac": "x.flac", "x.wav.ogg": "x.wav-2"}
    assert outputs.output_names(["stdin.wav", "-"]) == {"stdin.wav": "stdin.wav", "-": "stdin"}


def test_same_file_name_in_two_folders_does_not_overwrite(pretrained, tmp_path, capsys):
    clip(tmp_path / "rec" / "spk1" / "001.wav", 1.0, seed=1)
    clip(tmp_path / "rec" / "spk2" / "001.wav", 2.0, seed=2)
    out = tmp_path / "out"
    assert main(["transcribe", str(tmp_path / "rec"), "--model", "digits", "--format", "json",
                 "--output-dir", str(out)]) == OK
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert written == ["spk1/001.json", "spk2/001.json"]
    durations = [json.loads((out / w).read_text())["duration"] for w in written]
    assert durations == [1.0, 2.0]  # each file holds its own input's result
    assert len(capsys.readouterr().out.splitlines()) == 2


# ---------------------------------------------------------------------------- stdin
def run_cli(args: list[str], data: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-m", "speech.cli.main", "transcribe", *args], input=data,
                          capture_output=True, env=env, timeout=300)


def test_stdin_audio_is_transcribed_named_stdin_and_the_spool_removed(pretrained, tmp_path):
    out = tmp_path / "out"
    r = run_cli(["-", "--model", str(pretrained), "--format", "all", "--output-dir", str(out)], wav_bytes(), tmp_path)
    assert r.returncode == OK, r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"stdin.{f}" for f in outputs.FORMATS)
    assert r.stdout.decode().splitlines()[0] == f"-\t{out / 'stdin.txt'}"
    doc = json.loads((out / "stdin.json").read_text())
    assert doc["path"] == "-" and doc["text"] == "o" and doc["duration"] == 1.0
    assert list((tmp_path / "tmpdir").iterdir()) == []  # the spooled copy is gone


def test_stdin_that_is_not_audio_is_one_line(pretrained, tmp_path):
    for data in (b"", b"hello, this is text and not audio at all\n"):
        r = run_cli(["-", "--model", str(pretrained)], data, tmp_path)
        err = r.stderr.decode().splitlines()
        assert r.returncode == BAD_INPUT and r.stdout == b"", err
        assert len(err) == 1 and err[0].startswith("speech: error: stdin: not audio ("), err
        assert str(tmp_path / "tmpdir") not in err[0]  # the spool's name never shows
    good = clip(tmp_path / "good.wav")
    r = run_cli([str(good), "-", "--model", str(pretrained)], b"garbage bytes", tmp_path)
    assert r.returncode == BATCH_FAILED
    assert r.stdout.decode().splitlines() == [f"{good}\to"]
    err = r.stderr.decode().splitlines()
    assert err[0].startswith("speech: error: stdin: not audio (") and "1 of 2 inputs failed" in err[-1]
    assert list((tmp_path / "tmpdir").iterdir()) == []


def test_stdin_twice_is_a_usage_error(capsys):
    assert main(["transcribe", "-", "-", "--model", "m"]) == BAD_INPUT
    one_error(capsys, "'-' (audio from stdin) given more than once")


# ------------------------------------------------------------------------- manifest
def write_manifest(tmp_path: Path) -> Path:
    clip(tmp_path / "data" / "a.wav")
    clip(tmp_path / "data" / "sub" / "b.wav", 2.0, seed=3)
    rows = [json.dumps({"id": "a", "audio": "a.wav", "text": "oh"}),           # 1 relative to the manifest
            "{not json",                                                      # 2
            json.dumps({"id": "c", "text": "no audio field"}),               # 3
            "",                                                               # blank: skipped
            json.dumps({"id": "d", "audio": "gone.wav"}),                     # 5 missing file
            json.dumps({"id": "e", "audio": "a.wav", "start": 0.1, "end": 0.5}),  # 6 a segment
            json.dumps({"id": "b", "audio": str(tmp_path / "data" / "sub" / "b.wav")})]  # 7 absolute
    m = tmp_path / "data" / "test.jsonl"
    m.write_text("\n".join(rows) + "\n")
    return m


def test_manifest_in_pred_text_out_bad_lines_kept_and_named(pretrained, tmp_path, capsys):
    m = write_manifest(tmp_path)
    assert main(["transcribe", "--manifest", str(m), "--model", "digits"]) == BATCH_FAILED
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r.get("id") for r in rows] == ["a", None, "c", "d", "e", "b"]
    assert [r["pred_text"] for r in rows] == ["o", None, None, None, None, "o"]
    assert rows[0] == {"id": "a", "audio": "a.wav", "text": "oh", "pred_text": "o"}
    assert rows[1]["line"] == 2 and "not JSON" in rows[1]["error"]
    assert "\"audio\"" in rows[2]["error"] and "gone.wav" in rows[3]["error"] and "start" in rows[4]["error"]
    err = captured.err.splitlines()
    assert [re.match(rf"speech: error: {re.escape(str(m))}:(\d+): ", e).group(1) for e in err[:-1]] == \
        ["2", "3", "5", "6"]
    assert "4 of 6 manifest lines failed" in err[-1]


def test_manifest_to_output_dir_and_its_exit_statuses(pretrained, tmp_path, capsys):
    m = write_manifest(tmp_path)
    out = tmp_path / "hyps"
    assert main(["transcribe", "--manifest", str(m), "--model", "digits", "--output-dir", str(out)]) == BATCH_FAILED
    assert capsys.readouterr().out.splitlines() == [f"{m}\t{out / 'test.jsonl'}"]
    assert [json.loads(line)["pred_text"] for line in (out / "test.jsonl").read_text().splitlines()] == \
        ["o", None, None, None, None, "o"]
    # the manifest's own folder would be overwritten: refused
    assert main(["transcribe", "--manifest", str(m), "--model", "digits", "--output-dir", str(m.parent)]) \
        == BAD_INPUT
    one_error(capsys, "overwrite")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"audio": "data/a.wav"}) + "\n")
    assert main(["transcribe", "--manifest", str(good), "--model", "digits"]) == OK
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1, 2]\n")
    assert main(["transcribe", "--manifest", str(bad), "--model", "digits"]) == BAD_INPUT
    assert main(["transcribe", "--manifest", str(tmp_path / "none.jsonl"), "--model", "digits"]) == BAD_INPUT
    capsys.readouterr()
    for argv, words in ((["a.wav"], "not both"), (["--format", "srt"], "--format srt")):
        assert main(["transcribe", "--manifest", str(good), "--model", "digits", *argv]) == BAD_INPUT
        one_error(capsys, words)


# ------------------------------------------------------------------------- decoding
def test_no_decoding_word_or_option_leaves_the_choice_to_the_package():
    def decoding(*argv):
        args = parse_args(["transcribe", "x.wav", "--model", "m", *argv])
        return decoding_from_args(args, split_decoding_overrides(args.paths)[1])

    assert decoding() is None
    assert decoding("decoding=greedy")["_target_"].endswith("GreedyCTCDecoder")
    assert decoding("--beam-size", "4").beam_size == 4


def test_a_file_that_cannot_be_written_is_reported_and_the_rest_written(pretrained, tmp_path, capsys):
    a, b = clip(tmp_path / "a.wav"), clip(tmp_path / "b.wav")
    out = tmp_path / "out"
    (out / "a.txt").mkdir(parents=True)  # a folder where a's transcript should go
    assert main(["transcribe", str(a), str(b), "--model", "digits", "--output-dir", str(out)]) == BATCH_FAILED
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{b}\t{out / 'b.txt'}"] and (out / "b.txt").read_text() == "o\n"
    err = captured.err.splitlines()
    assert len(err) == 2 and f"{out / 'a.txt'}: cannot write" in err[0] and "1 of 2 inputs failed" in err[1]


def test_the_command_passes_no_decoding_so_the_package_recommends_one(pretrained, tmp_path, monkeypatch):
    import speech.pipelines.transcriber as transcriber_mod

    seen = []
    real = transcriber_mod.Transcriber

    def spy(*args, **kwargs):
        seen.append(kwargs.get("decoding"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transcriber_mod, "Transcriber", spy)
    a = str(clip(tmp_path / "a.wav"))
    assert main(["transcribe", a, "--model", "digits"]) == OK
    assert main(["transcribe", a, "--model", "digits", "decoding=greedy"]) == OK
    assert seen[0] is None and seen[1]["_target_"].endswith("GreedyCTCDecoder")
