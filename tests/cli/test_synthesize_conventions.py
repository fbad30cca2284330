"""`speech synthesize` conventions (issue 14): the default voice, voices by name, -o optional / '-',
--speaker, --phonemes, --sentence-silence, JSON-lines batches, --list-voices and their one-line errors.

Two untrained tiny voices stand in for the bundled ones in a tmp $SPEECH_PRETRAINED_DIR: "kathleen"
(one speaker, the default voice) and "chorus" (three speakers). Their audio is noise-like: these tests
check behaviour (files, bytes, lengths, messages, exit statuses), not quality."""
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

from speech.cli.main import main
from speech.pipelines.synthesis import default_output_name, open_synthesizer
from speech.text.frontend import phoneme_string

FAST = ["--gl-iters", "1"]
HOP = 256  # samples per mel frame of tts_fbank() at 22.05 kHz


def _voice(root: Path, name: str, n_speakers: int) -> Path:
    import torch

    from speech.features import tts_fbank
    from speech.features.prosody import TargetStats
    from speech.models.tts import fastspeech2
    from speech.packages.voice import save_tts_package
    from speech.text.phonemes import PhonemeTokenizer

    tok = PhonemeTokenizer()
    kw = {"hidden_size": 16, "variance_hidden": 16, "encoder_layers": 1, "decoder_layers": 1,
          "n_speakers": n_speakers}
    torch.manual_seed(0)
    model = fastspeech2(vocab_size=len(tok), n_mels=80, **kw)
    path = save_tts_package(root / name, fbank=tts_fbank(),
                            model_cfg={"_target_": "speech.models.tts.fastspeech2", **kw}, tokenizer=tok,
                            state=model.state_dict(), stats=TargetStats(5.3, 0.2, 0.0, 1.0),
                            mel_mean=np.zeros(80), mel_std=np.ones(80))
    meta = json.loads((path / "meta.json").read_text())
    meta["bundled"] = {"name": name, "task": "tts", "domain": f"{name} test voice", "summary": "tiny",
                       "numbers": {"WER": "9.9%"}}
    (path / "meta.json").write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pretrained")
    _voice(root, "kathleen", 1)
    _voice(root, "chorus", 3)
    return root


@pytest.fixture(autouse=True)
def here(bundled, tmp_path, monkeypatch) -> Path:
    """Every test runs in its own empty folder with the tiny voices installed."""
    monkeypatch.setenv("SPEECH_PRETRAINED_DIR", str(bundled))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("speech: error:")
    return lines[0]


def _frames(path: Path) -> int:
    return sf.info(str(path)).frames


def _cli() -> list[str]:
    exe = Path(sys.executable).parent / "speech"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "speech.cli.main"]


# ------------------------------------------------------------------------------------------ -o

@pytest.mark.parametrize("text, name", [
    ("Hello, world! How are you?", "hello_world.wav"),
    ("one two three four five six", "one_two_three_four.wav"),
    ("Ça va? Très bien.", "ca_va.wav"),
    ("It costs $5.", "it_costs_5.wav"),
    ("😀 !!!", "speech.wav"),
    ("x" * 60 + " more", "x" * 40 + ".wav"),
    ("Supercalifragilistic expialidocious wordiness overflowing", "supercalifragilistic_expialidocious.wav"),
])
def test_default_output_name(text, name):
    assert default_output_name(text) == name


def test_default_voice_and_default_name_never_overwrite(here, capsys):
    assert main(["synthesize", "Hello world. How are you?", *FAST]) == 0
    assert main(["synthesize", "Hello, world!", *FAST]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[0] for ln in out] == ["hello_world.wav", "hello_world-2.wav"]
    assert sorted(p.name for p in here.iterdir()) == ["hello_world-2.wav", "hello_world.wav"]
    assert sf.info("hello_world-2.wav").samplerate == 22050 and _frames(here / "hello_world.wav") > 0


def test_explicit_output_overwrites(here):
    (here / "x.wav").write_bytes(b"old")
    assert main(["synthesize", "Hello.", "-o", "x.wav", *FAST]) == 0
    assert _frames(here / "x.wav") > 0 and sorted(p.name for p in here.iterdir()) == ["x.wav"]


def test_dash_writes_only_wav_to_stdout(here):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(_cli() + ["synthesize", "Hello there. Bye.", "-o", "-", *FAST], capture_output=True,
                       timeout=120, env=env, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout[:4] == b"RIFF" and r.stdout[8:12] == b"WAVE"
    info = sf.info(io.BytesIO(r.stdout))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16") and info.frames > 0
    wav, _ = sf.read(io.BytesIO(r.stdout), dtype="int16")
    assert len(r.stdout) - 2 * len(wav) < 100  # nothing but the header and the samples
    assert b"stdout\t" in r.stderr and list(here.iterdir()) == []
    r = subprocess.run(_cli() + ["synthesize", "-o", "-", "--model", "chorus", "--speaker", "2", "--plot", "p.png",
                                 *FAST], input=b"Read from stdin.\n", capture_output=True, timeout=120, env=env,
                       check=False)
    assert r.returncode == 0 and r.stdout[:4] == b"RIFF", r.stderr
    assert sf.info(io.BytesIO(r.stdout)).frames > 0 and (here / "p.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, words", [
    (["--batch", "b.tsv", "-o", "-"], "with --batch, -o names the output folder"),
    (["Hi.", "-o", "-", "--plot"], "--plot: give the PNG's path"),
    (["Hi.", "--phonemes", "-o", "x.wav"], "--phonemes prints the phonemes"),
    (["--batch", "b.tsv", "--phonemes"], "--phonemes prints the phonemes"),
])
def test_options_that_do_not_go_together(here, capsys, argv, words):
    (here / "b.tsv").write_text("a\tHi.\n")
    assert main(["synthesize", *argv, *FAST]) == 2
    assert words in _one_line_error(capsys.readouterr().err)


def test_unwritable_outputs_are_one_line_naming_the_path(here, capsys):
    (here / "afile").write_text("x")
    assert main(["synthesize", "Hello.", "-o", "afile/x.wav", *FAST]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "afile/x.wav" in line and "cannot write" in line
    (here / "b.tsv").write_text("a\tHi.\n")
    assert main(["synthesize", "--batch", "b.tsv", "-o", "afile", *FAST]) == 2
    assert "afile: not a folder" in _one_line_error(capsys.readouterr().err)
    assert main(["synthesize", "--batch", "b.tsv", "-o", "afile/sub", *FAST]) == 2
    assert "afile/sub: cannot create the output folder" in _one_line_error(capsys.readouterr().err)
    assert main(["synthesize", "Hello.", "-o", ".", *FAST]) == 2
    assert "is a folder" in _one_line_error(capsys.readouterr().err)


# -------------------------------------------------------------------------------------- --model

def test_voices_by_name_or_folder(bundled, here, capsys):
    assert main(["synthesize", "Hi.", "-o", "a.wav", "--model", "chorus", *FAST]) == 0
    assert main(["synthesize", "Hi.", "-o", "b.wav", "--model", str(bundled / "kathleen"), *FAST]) == 0
    assert _frames(here / "a.wav") > 0 and _frames(here / "b.wav") > 0
    capsys.readouterr()
    assert main(["synthesize", "Hi.", "-o", "c.wav", "--model", "kathy", *FAST]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "kathy" in line and "chorus, kathleen" in line and not (here / "c.wav").exists()


def test_missing_default_voice_says_so_and_lists_the_installed(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "none"
    empty.mkdir()
    monkeypatch.setenv("SPEECH_PRETRAINED_DIR", str(empty))
    assert main(["synthesize", "Hello.", *FAST]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "default voice 'kathleen' is not installed" in line and "none are installed" in line
    only = tmp_path / "only"
    _voice(only, "chorus", 3)
    monkeypatch.setenv("SPEECH_PRETRAINED_DIR", str(only))
    assert main(["synthesize", "Hello.", *FAST]) == 2
    assert "chorus (voice: chorus test voice)" in _one_line_error(capsys.readouterr().err)


# ------------------------------------------------------------------------------------ --speaker

def test_speaker_is_threaded_to_the_model(bundled):
    synth = open_synthesizer("chorus", gl_iters=0)
    assert synth.n_speakers == 3 and synth.voice_name == "chorus"
    a, b = synth.synthesize("Hello there.", speaker=0), synth.synthesize("Hello there.", speaker=2)
    default = synth.synthesize("Hello there.")
    assert not np.allclose(a.mel[:5], b.mel[:5]) and np.allclose(a.mel, default.mel)
    with pytest.raises(ValueError, match=r"^speaker=3: voice 'chorus' has 3 speakers \(ids 0-2\)$"):
        synth.synthesize("Hi.", speaker=3)


@pytest.mark.parametrize("model, speaker, rc, words", [
    ("kathleen", "0", 0, None),
    ("kathleen", "1", 2, "--speaker 1: voice 'kathleen' has 1 speaker (ids 0-0)"),
    ("chorus", "2", 0, None),
    ("chorus", "3", 2, "--speaker 3: voice 'chorus' has 3 speakers (ids 0-2)"),
    ("chorus", "-1", 2, "--speaker: '-1': expected an integer >= 0"),
])
def test_speaker_option(here, capsys, model, speaker, rc, words):
    assert main(["synthesize", "Hi.", "-o", "s.wav", "--model", model, "--speaker", speaker, *FAST]) == rc
    if words:
        assert words in _one_line_error(capsys.readouterr().err)
        assert not (here / "s.wav").exists()
    else:
        assert _frames(here / "s.wav") > 0


# ----------------------------------------------------------------------------------- --phonemes

def test_phoneme_string_format():
    tokens = ["HH", "AH0", "L", "OW1", "<pau_short>", "W", "ER1", "L", "D", "<wb>", "AY1", "<pau_mid>", "OW1",
              "<pau_long>", "<eos>"]
    assert phoneme_string(tokens) == "HH AH0 L OW1 , W ER1 L D | AY1 ; OW1 ."


def test_phonemes_print_one_line_per_sentence_and_write_nothing(here, capsys):
    assert main(["synthesize", "Hello, world! It costs $5.", "--phonemes"]) == 0
    cap = capsys.readouterr()
    assert cap.out.splitlines() == ["HH AH0 L OW1 , W ER1 L D .", "IH1 T | K AA1 S T S | F AY1 V | D AA1 L ER0 Z ."]
    assert cap.err == "" and list(here.iterdir()) == []
    assert main(["synthesize", "Zorblaxington spoke.", "--phonemes"]) == 0
    cap = capsys.readouterr()
    assert len(cap.out.splitlines()) == 1 and "guessed: zorblaxington" in cap.err
    assert main(["synthesize", "?! ...", "--phonemes"]) == 2
    assert "nothing to synthesize" in _one_line_error(capsys.readouterr().err)


# ---------------------------------------------------------------------------- --sentence-silence

def test_sentence_silence_goes_between_sentences_only(bundled):
    synth = open_synthesizer("kathleen", gl_iters=0)
    synth.max_tokens = 12  # the first sentence is cut into several pieces: no silence inside it
    text = "One two three four five six seven eight nine. Ten. Eleven"
    plain, spaced = synth.synthesize(text), synth.synthesize(text, sentence_silence=0.5)
    gap = round(0.5 * 22050 / HOP)
    assert len({p["sentence"] for p in plain.pieces}) == 3 and len(plain.pieces) > 3
    assert len(spaced.wav) - len(plain.wav) == 2 * gap * HOP  # two sentence ends, not after the last
    assert spaced.mel.shape[0] - plain.mel.shape[0] == 2 * gap
    assert [p.get("silence_frames", 0) for p in spaced.pieces].count(gap) == 2
    end = sum(int(p["durations"].sum()) for p in spaced.pieces if p["sentence"] == 0) * HOP
    assert not spaced.wav[end:end + gap * HOP].any() and spaced.wav[:end].any()
    with pytest.raises(ValueError, match=r"sentence_silence=-1: expected seconds in \[0, 60\]"):
        synth.synthesize("Hi.", sentence_silence=-1)


def test_sentence_silence_option(here, capsys):
    assert main(["synthesize", "One. Two.", "-o", "a.wav", "--gl-iters", "0"]) == 0
    assert main(["synthesize", "One. Two.", "-o", "b.wav", "--gl-iters", "0", "--sentence-silence", "1"]) == 0
    assert _frames(here / "b.wav") - _frames(here / "a.wav") == round(22050 / HOP) * HOP
    capsys.readouterr()
    assert main(["synthesize", "One.", "--sentence-silence", "100", *FAST]) == 2
    assert "--sentence-silence 100: expected seconds in [0, 60]" in _one_line_error(capsys.readouterr().err)
    assert main(["synthesize", "One.", "--sentence-silence", "-0.5", *FAST]) == 2
    assert "--sentence-silence: '-0.5'" in _one_line_error(capsys.readouterr().err)


# --------------------------------------------------------------------------------- JSON lines

def test_json_lines_batch_reports_bad_lines_and_finishes_the_rest(here, capsys, tmp_path):
    absolute = tmp_path / "elsewhere" / "abs.wav"
    lines = [
        {"text": "Hello there.", "id": "greet"},                            # 1 -> out/greet.wav
        "not json",                                                         # 2
        {"text": "Two.", "speaker": 2},                                     # 3 -> out/3.wav, speaker 2
        {"text": "Three.", "output": "sub/three.flac", "speeker": 1},       # 4 warning: unknown key
        {"text": ""},                                                       # 5
        {"output": "x.wav"},                                                # 6
        {"text": "Dup.", "output": "greet.wav"},                            # 7 same file as line 1
        {"text": "Bad speaker.", "speaker": 7},                             # 8
        {"text": "Bad speaker.", "speaker": "two"},                         # 9
        {"text": "Abs.", "output": str(absolute)},                          # 10
        {"text": "Blocked.", "output": "taken.wav"},                        # 11: a folder is there
        {"text": "No extension.", "output": "noext"},                       # 12
        ["a list"],                                                         # 13
        {"text": "Piper names.", "speaker_id": 1, "output_file": "piper.wav"},  # 14
    ]
    f = here / "prompts.jsonl"
    f.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    (here / "out" / "taken.wav").mkdir(parents=True)
    rc = main(["synthesize", "--batch", str(f), "-o", "out", "--model", "chorus", *FAST])
    cap = capsys.readouterr()
    assert rc == 1 and "Traceback" not in cap.err
    written = sorted(str(p.relative_to(here / "out")) for p in (here / "out").rglob("*.*") if p.is_file())
    assert written == ["3.wav", "greet.wav", "piper.wav", "sub/three.flac"]
    assert _frames(absolute) > 0
    errs = [ln for ln in cap.err.splitlines() if ln.startswith("speech: error:")]
    for n in (2, 5, 6, 7, 8, 9, 11, 12, 13):
        assert sum(f"{f}:{n}: " in e for e in errs) == 1, (n, cap.err)
    by_line = {n: next(e for e in errs if f"{f}:{n}: " in e) for n in (2, 7, 8, 9, 11, 12)}
    assert "not JSON" in by_line[2] and "also written by line 1" in by_line[7]
    assert by_line[8].endswith(f"{f}:8: speaker 7: voice 'chorus' has 3 speakers (ids 0-2)")
    assert '"speaker" must be a speaker id' in by_line[9]
    assert str(here / "out" / "taken.wav") in by_line[11] or "out/taken.wav" in by_line[11]
    assert "cannot write '(no extension)'" in by_line[12]
    assert f"{f}:4: ignored unknown key(s) 'speeker'" in cap.err
    assert errs[-1].endswith("9 of 14 lines failed")
    assert cap.out.splitlines()[-1].startswith("5 written, 9 failed")


def test_json_detected_by_first_line_and_speaker_default(here, capsys):
    f = here / "lines.txt"
    f.write_text('# comment\n\n{"text": "Hi.", "id": "a"}\n{"text": "Ho.", "id": "b", "speaker": 0}\n')
    assert main(["synthesize", "--batch", str(f), "--model", "chorus", "--speaker", "1", *FAST]) == 0
    assert sorted(p.name for p in here.glob("*.wav")) == ["a.wav", "b.wav"]  # -o defaults to here
    f = here / "array.json"
    f.write_text('[{"text": "Hi."}]')
    assert main(["synthesize", "--batch", str(f), *FAST]) == 2
    assert "a JSON array; expected JSON lines" in _one_line_error(capsys.readouterr().err)


def test_tsv_batch_still_works_with_the_default_folder(here, capsys):
    (here / "p.tsv").write_text("a1\tHello.\nb2|Bye.\n")
    assert main(["synthesize", "--batch", "p.tsv", *FAST]) == 0
    assert sorted(p.name for p in here.glob("*.wav")) == ["a1.wav", "b2.wav"]
    assert capsys.readouterr().out.splitlines()[-1].startswith("2 written, 0 failed")


# --------------------------------------------------------------------------------- --list-voices

def test_list_voices(here, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("never read"))
    assert main(["synthesize", "--list-voices"]) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["NAME", "SPEAKERS", "SIZE", "DOMAIN", "MEASURED"]
    assert rows[1][:2] == ["chorus", "3"] and rows[2][:3] == ["kathleen", "(default)", "1"]
    assert rows[2][-2:] == ["WER", "9.9%"] and "MB" in rows[2]
    assert sys.stdin.read() == "never read" and list(here.iterdir()) == []
    empty = tmp_path / "none"
    empty.mkdir()
    monkeypatch.setenv("SPEECH_PRETRAINED_DIR", str(empty))
    assert main(["synthesize", "--list-voices"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "" and "no bundled voices are installed" in cap.err


def test_help_documents_the_conventions(capsys):
    assert main(["synthesize", "--help"]) == 0
    text = capsys.readouterr().out
    for words in ('speech synthesize "Hello." -o hello.wav', "-o -", "--phonemes", "--speaker ID",
                  "--sentence-silence SECONDS", "--list-voices", "JSON lines", "hello_world.wav", "NAME|PATH"):
        assert words in text, words
