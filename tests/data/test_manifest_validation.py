"""Hand-written manifests and bad training data: every bad line named by manifest:line, in one line.

Covers :func:`speech.data.manifest.check_manifest` (normalization, per-line checks from the audio
header), the stop / skip policy of training (``data.skip_bad``) and audio that fails while features
are computed (:class:`speech.data.dataset.BadUtteranceError`, also from DataLoader workers).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from speech.data.dataset import AsrDataset, BadUtteranceError, DataConfig, collate_asr
from speech.data.manifest import (ManifestError, Utterance, check_manifest, issues_error, read_manifest)
from speech.features import FbankConfig
from speech.text import CharTokenizer
from speech.text.normalize import ASR_ALPHABET
from speech.train.asr import SKIPPED_NAME, load_asr_manifests

SR = 8000


@pytest.fixture
def audio(tmp_path) -> Path:
    """A folder with a 0.5 s noise clip, a garbage .wav and a 0-byte .wav."""
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "clip.wav", (0.1 * rng.standard_normal(SR // 2)).astype(np.float32), SR)
    (tmp_path / "garbage.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio" * 8)
    (tmp_path / "empty.wav").write_bytes(b"")
    return tmp_path


def line(uid: str, text: str = "yes", audio: str = "clip.wav", duration: float = 0.5, **extra) -> str:
    return json.dumps({"id": uid, "audio": audio, "duration": duration, "text": text, **extra}, ensure_ascii=False)


def write(folder: Path, lines: list[str], name: str = "all.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(s + "\n" for s in lines), encoding="utf-8")
    return path


GOOD = line("good")

BAD_LINES = [
    # (bad line, substring of the message after "<manifest>:<line>: ")
    ("{not json", "not valid JSON"),
    ('["a list"]', "found a JSON list"),
    ('{"id": "x", "duration": 0.5, "text": "hi"}', "missing field 'audio'"),
    ('{"id": "x", "audio": "clip.wav", "text": "hi"}', "missing field 'duration'"),
    (line("x", text=""), "field 'text' is empty or missing; expected the transcript"),
    ('{"id": "x", "audio": "clip.wav", "duration": 0.5}', "field 'text' is empty or missing"),
    (line("x", text=" ?! ... "), "has no words after normalization"),
    (line("x", text="zéro ☃ 42 ŋ"), "text has characters outside the vocabulary: '☃' 'ŋ'; expected letters a-z, "
                                   "apostrophe and space after normalization"),
    (line("x", text="привет мир"), "outside the vocabulary: 'п' 'р'"),
    (line("x", text="5° north"), "outside the vocabulary: '°'"),
    (line("x", audio="missing.wav"), "missing.wav: no such file; expected an audio file"),
    (line("x", audio="garbage.wav"), "garbage.wav: cannot decode"),
    (line("x", audio="empty.wav"), "empty.wav: file is empty (0 bytes)"),
    (line("x", duration=5000), "field 'duration' is 5000 s but the audio"),
    (line("x", duration=5000), "lasts 0.500 s; expected the audio's length"),
    (line("x", duration=1.5), "field 'duration' is 1.5 s"),
    (line("x", duration=0.5, start=1.0, end=1.5), "field 'start' is 1 s but the audio"),
    (line("x", duration=2.0, start=0.0, end=2.0), "field 'end' is 2 s but the audio"),
    (line("x", duration=1.0, start=0.1, end=0.2), "field 'duration' is 1 s but its segment of"),
    (line("good"), "field 'id' 'good' already used on line 1"),
]


@pytest.mark.parametrize("bad, expected", BAD_LINES)
def test_each_bad_line_is_one_message_naming_manifest_and_line(audio, bad, expected):
    path = write(audio, [GOOD, "", bad, line("later")])  # the blank line 2 still counts
    check = check_manifest(path)
    assert [u.id for u in check.utterances] == ["good", "later"]
    [issue] = check.issues
    msg = str(issue)
    assert msg.startswith(f"{path}:3: "), msg
    assert expected in msg and "\n" not in msg
    assert "expected" in msg


def test_not_utf8_line_is_reported(audio):
    path = audio / "m.jsonl"
    path.write_bytes((GOOD + "\n").encode() + b'{"id": "x", "text": "caf\xe9"}\n')
    [issue] = check_manifest(path).issues
    assert str(issue) == f"{path}:2: not valid UTF-8; expected UTF-8 text"


def test_every_bad_line_is_collected_and_good_lines_kept(audio):
    bad = [b for b, _ in BAD_LINES if '"good"' not in b]
    path = write(audio, [GOOD] + bad + [line("last")])
    check = check_manifest(path)
    assert [i.line for i in check.issues] == list(range(2, 2 + len(bad)))
    assert [u.id for u in check.utterances] == ["good", "last"]
    assert check.lines == len(bad) + 2
    assert check.utterances[0].origin == f"{path}:1"


def test_normalized_like_prepare_and_vocabulary_does_not_grow(audio):
    path = write(audio, [line("a", text="Zéro 42!"), line("b", text="zéro ☃ 42 ŋ"), line("c", text="Don’t stop")])
    check = check_manifest(path)
    texts = {u.id: u.text for u in check.utterances}
    assert texts == {"a": "zero forty two", "c": "don't stop"}
    assert [i.line for i in check.issues] == [2]
    vocab = set(CharTokenizer.build(texts.values()).vocab[1:])
    assert vocab <= set("abcdefghijklmnopqrstuvwxyz'|")
    assert not vocab & set("24éŋ☃")
    # read_manifest normalizes on request (evaluation, alignment) and keeps text as is otherwise
    assert read_manifest(path, normalize=True)[0].text == "zero forty two"
    assert read_manifest(path)[0].text == "Zéro 42!"


def test_unlabeled_audio_and_header_checks_are_optional(audio):
    path = write(audio, [line("a", text=""), line("b", audio="missing.wav")])
    assert check_manifest(path, require_text=False, check_audio=False).issues == []
    assert [i.line for i in check_manifest(path, require_text=False).issues] == [2]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=0, max_size=30))
def test_random_unicode_text_is_in_the_alphabet_or_reported(tmp_path, text):
    path = write(tmp_path, [line("u", text=text, audio="/nowhere.wav")])
    check = check_manifest(path, check_audio=False)
    if check.issues:
        [issue] = check.issues
        assert str(issue).startswith(f"{path}:1: ") and "\n" not in str(issue)
    else:
        [u] = check.utterances
        assert u.text and set(u.text) <= ASR_ALPHABET
        assert set(CharTokenizer.build([u.text]).vocab[1:]) <= (ASR_ALPHABET - {" "}) | {"|"}


def test_issues_error_first_line_names_the_first_line_and_lists_the_rest(audio):
    path = write(audio, [line(f"u{k}", audio="missing.wav") for k in range(13)])
    issues = check_manifest(path).issues
    err = issues_error(issues, hint="or skip them")
    first, *rest = str(err).splitlines()
    assert first.startswith(f"{path}:1: audio ") and "[1 of 13 bad manifest lines; or skip them]" in first
    assert len(rest) == 11 and rest[-1] == "... and 3 more" and rest[9].startswith(f"{path}:10: ")
    assert isinstance(err, ManifestError) and err.issues == issues


# ------------------------------------------------------------------------ training policy
def data_cfg(train: Path, **kw) -> DataConfig:
    return DataConfig(train_manifest=str(train), dev_fraction=0.0, **kw)


def test_training_stops_on_bad_lines_with_each_one_logged(audio, caplog):
    path = write(audio, [GOOD, line("x", duration=5000), line("y", audio="empty.wav")])
    with caplog.at_level(logging.ERROR), pytest.raises(ManifestError) as e:
        load_asr_manifests(data_cfg(path), audio / "out")
    assert str(e.value).splitlines()[0].startswith(f"{path}:2: field 'duration' is 5000 s")
    assert "data.skip_bad=true" in str(e.value).splitlines()[0]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged[0].startswith(f"{path}:2: ") and logged[1].startswith(f"{path}:3: ")
    assert not (audio / "out" / SKIPPED_NAME).exists()


def test_skip_bad_trains_without_them_and_lists_them(audio, caplog):
    train = write(audio, [GOOD, line("x", text="☃"), line("y", audio="garbage.wav"), line("z")])
    dev = write(audio, [line("d1"), "{oops"], name="dev.jsonl")
    out = audio / "out"
    with caplog.at_level(logging.WARNING):
        train_utts, dev_utts = load_asr_manifests(data_cfg(train, dev_manifest=str(dev), skip_bad=True), out)
    assert [u.id for u in train_utts] == ["good", "z"] and [u.id for u in dev_utts] == ["d1"]
    skipped = [json.loads(s) for s in (out / SKIPPED_NAME).read_text().splitlines()]
    assert [(s["manifest"], s["line"], s["id"]) for s in skipped] == [(str(train), 2, "x"), (str(train), 3, "y"),
                                                                      (str(dev), 2, None)]
    assert "outside the vocabulary" in skipped[0]["problem"] and "cannot decode" in skipped[1]["problem"]
    [summary] = [r.getMessage() for r in caplog.records if "skip_bad" in r.getMessage()]
    assert "left out 3 bad manifest lines of 6" in summary
    # a clean rerun removes the stale list
    load_asr_manifests(data_cfg(write(audio, [GOOD], name="clean.jsonl"), skip_bad=True), out)
    assert not (out / SKIPPED_NAME).exists()


def test_skip_bad_with_nothing_left_says_so(audio):
    path = write(audio, [line("x", audio="empty.wav")])
    with pytest.raises(ValueError, match="has no usable utterances .1 bad lines left out"):
        load_asr_manifests(data_cfg(path, skip_bad=True), audio / "out")


def test_data_configs_document_skip_bad():
    root = Path(__file__).resolve().parents[2] / "conf" / "data"
    for yaml in sorted(root.glob("*.yaml")):
        assert OmegaConf.load(yaml).skip_bad is False, yaml


# ------------------------------------------------------------------------ corrupt audio while training
def corrupt_utts(audio: Path) -> list[Utterance]:
    """Utterances that skipped the header check: the garbage and the empty file fail at decoding."""
    return [Utterance("ok", str(audio / "clip.wav"), 0.5, "yes", origin="m.jsonl:1"),
            Utterance("junk", str(audio / "garbage.wav"), 0.5, "yes", origin="m.jsonl:2"),
            Utterance("void", str(audio / "empty.wav"), 0.5, "yes", origin="m.jsonl:3")]


def dataset(audio: Path, **kw) -> AsrDataset:
    return AsrDataset(corrupt_utts(audio), CharTokenizer.build(["yes"]), FbankConfig(sample_rate=SR, n_mels=20),
                      desc=None, **kw)


@pytest.mark.parametrize("index, where, what", [(1, "m.jsonl:2", "garbage.wav: cannot decode"),
                                                (2, "m.jsonl:3", "empty.wav: file is empty (0 bytes)")])
def test_corrupt_audio_is_one_line_naming_manifest_line(audio, index, where, what):
    ds = dataset(audio)
    with pytest.raises(BadUtteranceError) as e:
        ds[index]
    msg = str(e.value)
    assert msg.startswith(f"{where}: audio ") and what in msg and "\n" not in msg
    with pytest.raises(BadUtteranceError, match="m.jsonl:2"):  # the first bad one stops caching
        dataset(audio, cache_features=True)


def test_corrupt_audio_from_a_worker_is_still_one_line(audio):
    loader = torch.utils.data.DataLoader(dataset(audio), batch_size=3, collate_fn=collate_asr, num_workers=1)
    batches = iter(loader)
    with pytest.raises(BadUtteranceError) as e:
        next(batches)
    msg = str(e.value)
    del e, batches  # the iterator shuts its worker down now, not during a later test
    assert msg.startswith("m.jsonl:2: audio ") and "\n" not in msg


def test_skip_bad_drops_corrupt_audio(audio, caplog):
    ds = dataset(audio, skip_bad=True)
    with caplog.at_level(logging.WARNING):
        batch = collate_asr([ds[i] for i in range(3)])
        ds[1]  # reported once per utterance
    assert batch.ids == ["ok"] and batch.tokens.shape[0] == 1
    warned = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(warned) == 2 and warned[0].startswith("m.jsonl:2: audio ")
    # a batch of bad items only keeps one stand-in rather than coming out empty
    assert collate_asr([ds[1], ds[2]]).ids == ["ok"]
    cached = dataset(audio, skip_bad=True, cache_features=True)
    assert [u.id for u in cached.utts] == ["ok"] and len(cached) == 1 and len(cached.tokens) == 1
    assert [w for w, _ in cached.dropped] == ["m.jsonl:2", "m.jsonl:3"]


def test_bad_utterance_error_unwraps_torch_worker_message():
    wrapped = ("Caught BadUtteranceError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
               '  File "x.py", line 1, in f\nspeech.data.dataset.BadUtteranceError: m.jsonl:7: audio x.wav: bad\n')
    assert str(BadUtteranceError(wrapped)) == "m.jsonl:7: audio x.wav: bad"
    assert str(BadUtteranceError("plain")) == "plain"


# ------------------------------------------------------------------------ end to end
def test_train_command_reports_the_bad_line_and_returns_2(audio, capsys):
    from speech.cli.main import main

    manifest = write(audio, [GOOD, line("big", duration=5000), line("other")])
    rc = main(["train", "data=custom", f"data.train_manifest={manifest}", "trainer.max_epochs=1",
               "model.asr.hidden_size=8", "model.asr.num_layers=1", f"output_dir={audio / 'exp'}",
               "trainer.progress=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and f"{manifest}:2: field 'duration' is 5000 s" in err[0], err
    assert not (audio / "exp" / "model").exists()


@pytest.mark.slow
def test_train_command_with_skip_bad_trains_on_the_rest(audio, tmp_path, monkeypatch, caplog):
    """A missing file is left out before training; a truncated FLAC passes the header check and is
    dropped when its features fail; the model package is still written."""
    from speech.cli.main import main

    rng = np.random.default_rng(1)
    flac = audio / "whole.flac"
    sf.write(flac, (0.2 * rng.standard_normal(2 * SR)).astype(np.float32), SR)
    (audio / "cut.flac").write_bytes(flac.read_bytes()[: flac.stat().st_size // 3])
    train = write(audio, [line(f"c{k}", text="Yes 1") for k in range(3)]
                  + [line("cut", audio="cut.flac", duration=2.0), line("gone", audio="gone.wav")])
    dev = write(audio, [line("d")], name="dev.jsonl")
    exp = tmp_path / "exp"
    monkeypatch.chdir(audio)
    caplog.set_level(logging.WARNING)
    rc = main(["train", "data=custom", f"data.train_manifest={train}", f"data.dev_manifest={dev}",
               "data.num_workers=0", "data.skip_bad=true", "trainer.max_epochs=1", "model.asr.hidden_size=8",
               "model.asr.num_layers=1", f"output_dir={exp}", "trainer.progress=false"])
    assert rc == 0
    [skipped] = [json.loads(s) for s in (exp / SKIPPED_NAME).read_text().splitlines()]
    assert (skipped["line"], skipped["id"]) == (5, "gone")
    assert (exp / "model").is_dir()
    assert CharTokenizer.load(exp / "model" / "tokenizer.json").vocab[1:] == list("|enosy")  # "Yes 1" -> "yes one"
    dropped = [r.getMessage() for r in caplog.records if "utterance dropped" in r.getMessage()]
    assert dropped and all(m.startswith(f"{train}:4: audio ") and "cut.flac" in m for m in dropped)
