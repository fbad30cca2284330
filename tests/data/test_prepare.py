"""Tests for the corpus importers in speech.data.prepare: synthetic layouts and the real corpora."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speech.audio import AUDIO_EXTENSIONS, save
from speech.data.manifest import ManifestError, read_manifest, total_duration
from speech.data.prepare import (
    PREPARERS, prepare, prepare_an4, prepare_folder, prepare_fsdd, prepare_librispeech, prepare_ljspeech,
    prepare_table,
)
from speech.data.prepare.ljspeech import read_ljspeech_metadata

LOGGER = "speech.data.prepare"


def corpus(data_root: Path, name: str) -> Path:
    """A corpus folder under the shared data (``data_root`` fixture from tests/conftest.py)."""
    path = data_root / name
    if not path.exists():
        msg = f"shared corpus {name} not found at {path} (set SPEECH_DATA)"
        if os.environ.get("SPEECH_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def write_audio(path: Path, seconds: float, sr: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * sr))) / sr
    soundfile.write(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def info_calls(monkeypatch):
    """Counts soundfile.info calls (the importers read durations only through it)."""
    calls = []
    real = soundfile.info

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(soundfile, "info", counting)
    return calls


def by_id(manifest: Path) -> dict:
    return {u.id: u for u in read_manifest(manifest)}


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


# --- fsdd ----------------------------------------------------------------------------------------

@pytest.fixture
def fsdd_dir(tmp_path) -> Path:
    rec = tmp_path / "fsdd" / "recordings"
    write_audio(rec / "3_alice_0.wav", 0.5)
    write_audio(rec / "3_alice_7.wav", 0.25)
    write_audio(rec / "9_bob_4.wav", 0.375)
    write_audio(rec / "0_bob_12.wav", 0.125)
    write_text(rec / "1_bob_6.wav", "not audio")  # unreadable
    write_audio(rec / "stray.wav", 0.1)  # name does not follow the pattern
    write_text(rec / "README.txt", "hi")
    return tmp_path / "fsdd"


def test_fsdd_synthetic(fsdd_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = prepare_fsdd(fsdd_dir, tmp_path / "out")
    assert out == {"train": tmp_path / "out" / "train.jsonl", "test": tmp_path / "out" / "test.jsonl"}
    test, train = by_id(out["test"]), by_id(out["train"])
    assert sorted(test) == ["3_alice_0", "9_bob_4"] and sorted(train) == ["0_bob_12", "3_alice_7"]
    u = test["3_alice_0"]
    assert (u.text, u.speaker, u.duration) == ("three", "alice", 0.5)
    assert u.audio == str((fsdd_dir / "recordings" / "3_alice_0.wav").resolve()) and os.path.isabs(u.audio)
    assert train["0_bob_12"].text == "zero"
    # the unreadable file is skipped with one warning line naming it; the bad name is reported too
    msgs = warnings_of(caplog)
    assert any("1_bob_6.wav" in m and "\n" not in m for m in msgs)
    assert any("stray.wav" in m for m in msgs)


def test_fsdd_accepts_recordings_folder_itself(fsdd_dir, tmp_path):
    out = prepare_fsdd(fsdd_dir / "recordings", tmp_path / "out")
    assert len(read_manifest(out["test"])) == 2


def test_fsdd_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        prepare_fsdd(tmp_path / "nowhere", tmp_path / "out")
    msg = str(e.value)
    assert "recordings/" in msg and "github.com/Jakobovski/free-spoken-digit-dataset" in msg and "\n" not in msg


def test_rerun_skips_finished_work(fsdd_dir, tmp_path, info_calls):
    out_dir = tmp_path / "out"
    first = prepare_fsdd(fsdd_dir, out_dir)
    n_first = len(info_calls)
    assert n_first >= 4
    contents = {k: p.read_bytes() for k, p in first.items()}
    mtimes = {k: p.stat().st_mtime_ns for k, p in first.items()}
    assert json.loads((out_dir / ".prepared.json").read_text())["splits"] == {"train": {"count": 2}, "test": {"count": 2}}

    assert prepare_fsdd(fsdd_dir, out_dir) == first
    assert len(info_calls) == n_first  # no audio header read the second time
    assert {k: p.stat().st_mtime_ns for k, p in first.items()} == mtimes

    assert prepare_fsdd(fsdd_dir, out_dir, force=True) == first
    assert len(info_calls) == 2 * n_first
    assert {k: p.read_bytes() for k, p in first.items()} == contents

    # a truncated manifest or a changed listing redoes the work
    first["train"].write_text("")
    prepare_fsdd(fsdd_dir, out_dir)
    assert len(info_calls) == 3 * n_first and len(read_manifest(first["train"])) == 2
    write_audio(fsdd_dir / "recordings" / "5_carol_20.wav", 0.2)
    os.utime(fsdd_dir / "recordings", ns=(1, 1))  # make the folder's mtime change visibly
    prepare_fsdd(fsdd_dir, out_dir)
    assert "5_carol_20" in by_id(first["train"])


def test_rerun_second_call_does_no_work_even_if_audio_unreadable(fsdd_dir, tmp_path, monkeypatch):
    out = prepare_fsdd(fsdd_dir, tmp_path / "out")

    def fail(*args, **kwargs):
        raise AssertionError("audio read on a re-run")

    monkeypatch.setattr(soundfile, "info", fail)
    assert prepare_fsdd(fsdd_dir, tmp_path / "out") == out


# --- an4 -----------------------------------------------------------------------------------------

def test_an4_synthetic(tmp_path, caplog):
    src = tmp_path / "an4"
    write_text(src / "etc" / "an4_train.transcription",
               "<s> U M N Y H SIX </s> (an255-fash-b)\n<s> YES </s> (an1-fmjd-b)\n\n"
               "<s> GO </s> (an2-fmjd-b)\ngarbage line\n")
    write_text(src / "etc" / "an4_test.transcription", "ERASE C Q Q F SEVEN (an407-fcaw-b)\n")
    write_audio(src / "wav" / "an4_clstk" / "fash" / "an255-fash-b.flac", 1.0, 16000)
    write_audio(src / "wav" / "an4_clstk" / "fmjd" / "an1-fmjd-b.wav", 0.5, 16000)  # .wav accepted
    write_audio(src / "wav" / "an4test_clstk" / "fcaw" / "an407-fcaw-b.flac", 0.75, 16000)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = prepare_an4(src, tmp_path / "out")
    train, test = by_id(out["train"]), by_id(out["test"])
    assert sorted(train) == ["an1-fmjd-b", "an255-fash-b"]  # an2 has no audio
    assert train["an255-fash-b"].text == "u m n y h six" and train["an255-fash-b"].speaker == "fash"
    assert train["an1-fmjd-b"].audio.endswith("an1-fmjd-b.wav") and train["an1-fmjd-b"].duration == 0.5
    assert test["an407-fcaw-b"].text == "erase c q q f seven"
    msgs = warnings_of(caplog)
    assert any("an2-fmjd-b" in m for m in msgs) and any("an4_train.transcription:5" in m for m in msgs)


def test_an4_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"etc/an4_\{train,test\}\.transcription.*cmu\.edu"):
        prepare_an4(tmp_path, tmp_path / "out")


# --- ljspeech ------------------------------------------------------------------------------------

def test_ljspeech_synthetic(tmp_path, caplog):
    src = tmp_path / "LJSpeech-1.1"
    write_text(src / "metadata.csv",
               'LJ001-0001|Printing, in 1999 "quotes"|Printing, in nineteen ninety-nine "quotes"\n'
               "LJ001-0002|Dr. Who's 2nd|\n"
               "LJ001-0003|no audio|no audio\n")
    write_audio(src / "wavs" / "LJ001-0001.wav", 0.5, 22050)
    write_audio(src / "wavs" / "LJ001-0002.wav", 0.25, 22050)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = prepare_ljspeech(src, tmp_path / "out")
    assert list(out) == ["all"]
    utts = by_id(out["all"])
    assert sorted(utts) == ["LJ001-0001", "LJ001-0002"]
    assert utts["LJ001-0001"].text == "printing in nineteen ninety nine quotes"  # normalized column
    assert utts["LJ001-0002"].text == "dr who's second"  # raw column when normalized is empty
    assert utts["LJ001-0001"].speaker == "ljspeech"
    assert any("LJ001-0003.wav" in m for m in warnings_of(caplog))


def test_ljspeech_malformed_and_repeated_lines_are_skipped_naming_file_and_line(tmp_path, caplog):
    src = tmp_path / "lj"
    write_text(src / "metadata.csv", "\ufeffLJ1|one|one\njust text\n\n|no id|\nLJ1|again|again\nLJ2|two\n")
    for uid in ("LJ1", "LJ2"):
        write_audio(src / "wavs" / f"{uid}.wav", 0.25, 22050)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        utts = by_id(prepare_ljspeech(src, tmp_path / "out")["all"])
    assert sorted(utts) == ["LJ1", "LJ2"] and utts["LJ1"].text == "one"  # BOM stripped, first LJ1 kept
    msgs = warnings_of(caplog)
    meta = src.resolve() / "metadata.csv"
    assert any(m.startswith(f"skipping {meta}:2: expected 'id|raw text|normalized text'") for m in msgs)
    assert any(m.startswith(f"skipping {meta}:4: expected") for m in msgs)
    assert any(f"{meta}:5: id 'LJ1' repeats (first on line 1)" in m for m in msgs)
    assert all("\n" not in m for m in msgs)


def test_ljspeech_metadata_reader_is_shared(tmp_path):
    meta = write_text(tmp_path / "metadata.csv", "a|Raw 1|\nb|Raw 2|Normal two\r\nc\n")
    rows, problems = read_ljspeech_metadata(meta)
    assert [(r.line, r.id, r.text) for r in rows] == [(1, "a", "Raw 1"), (2, "b", "Normal two")]
    assert problems == [f"{meta}:3: expected 'id|raw text|normalized text', got 'c'"]
    meta.write_bytes(b"a|\xff\xfe|x\n")
    with pytest.raises(ValueError, match="metadata.csv: not UTF-8 text"):
        read_ljspeech_metadata(meta)


def test_ljspeech_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        prepare_ljspeech(tmp_path, tmp_path / "out")


# --- librispeech ---------------------------------------------------------------------------------

def make_librispeech_split(root: Path, name: str, utts: dict[str, str]) -> Path:
    split = root / name
    for utt_id, text in utts.items():
        spk, chap, _ = utt_id.split("-")
        write_audio(split / spk / chap / f"{utt_id}.flac", 0.25, 16000)
        trans = split / spk / chap / f"{spk}-{chap}.trans.txt"
        with open(trans, "a", encoding="utf-8") as f:
            f.write(f"{utt_id} {text}\n")
    return split


def test_librispeech_root_and_single_split(tmp_path):
    root = tmp_path / "LibriSpeech"
    make_librispeech_split(root, "dev-clean", {"84-121-0000": "GO DO YOU HEAR", "84-121-0001": "BUT IN LESS THAN"})
    test = make_librispeech_split(root, "test-clean", {"1089-134-0000": "HE HOPED THERE WOULD BE STEW"})
    write_text(root / "README.TXT", "x")
    out = prepare_librispeech(root, tmp_path / "all")
    assert out == {"dev-clean": tmp_path / "all" / "dev-clean.jsonl", "test-clean": tmp_path / "all" / "test-clean.jsonl"}
    dev = by_id(out["dev-clean"])
    assert dev["84-121-0001"].text == "but in less than" and dev["84-121-0001"].speaker == "84"
    assert dev["84-121-0000"].duration == 0.25
    single = prepare_librispeech(test, tmp_path / "one")
    assert list(single) == ["test-clean"] and len(read_manifest(single["test-clean"])) == 1


def test_librispeech_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="trans.txt"):
        prepare_librispeech(tmp_path, tmp_path / "out")


# --- folder --------------------------------------------------------------------------------------

def test_folder_synthetic(tmp_path, caplog):
    src = tmp_path / "corpus"
    write_audio(src / "alice" / "1.wav", 0.5)
    write_text(src / "alice" / "1.txt", "Hello, World 2!\n")
    write_audio(src / "bob" / "wav" / "2.flac", 0.25)  # transcript in a sibling folder
    write_text(src / "bob" / "txt" / "2.txt", "second one")
    write_audio(src / "bob" / "wav" / "1.wav", 0.25)  # same stem as alice/1.wav
    write_text(src / "bob" / "wav" / "1.txt", "bob's one")
    write_audio(src / "3.ogg", 0.125)  # at the top: no speaker
    write_text(src / "3.txt", "top")
    write_audio(src / "alice" / "4.wav", 0.1)  # no transcript
    write_audio(src / "alice" / "5.wav", 0.1)  # no transcript
    write_text(src / "alice" / "6.wav", "broken")
    write_text(src / "alice" / "6.txt", "broken audio")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = prepare_folder(src, tmp_path / "out")
    utts = by_id(out["all"])
    assert sorted(utts) == ["2", "3", "alice/1", "bob/wav/1"]
    assert utts["alice/1"].text == "hello world two" and utts["alice/1"].speaker == "alice"
    assert utts["2"].text == "second one" and utts["2"].speaker == "bob"  # "wav" is a container name
    assert utts["bob/wav/1"].text == "bob's one"
    assert utts["3"].speaker is None and utts["3"].duration == 0.125
    msgs = warnings_of(caplog)
    assert sum("no same-name .txt transcript" in m for m in msgs) == 1  # warned once, with the count
    assert any(" 2 audio file(s)" in m for m in msgs)
    assert any("6.wav" in m for m in msgs)


def test_folder_reads_every_extension_that_load_reads(tmp_path):
    """The folder importer and speech.audio.load share one extension list (AIFF, AU, SPHERE too)."""
    src = tmp_path / "c"
    t = np.arange(2000) / 8000
    for stem, ext in [("a", ".aiff"), ("b", ".au"), ("c", ".sph"), ("d", ".WAV")]:
        save(src / f"{stem}{ext}", (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000)
        write_text(src / f"{stem}.txt", stem)
    write_text(src / "e.raw", "headerless")
    write_text(src / "e.txt", "not audio")
    utts = by_id(prepare_folder(src, tmp_path / "out")["all"])
    assert sorted(utts) == ["a", "b", "c", "d"] and all(u.duration == 0.25 for u in utts.values())
    assert {Path(u.audio).suffix.lower() for u in utts.values()} <= set(AUDIO_EXTENSIONS)


def test_folder_output_inside_source_does_not_defeat_rerun(tmp_path, info_calls):
    src = tmp_path / "c"
    write_audio(src / "a.wav", 0.5)
    write_text(src / "a.txt", "a")
    prepare_folder(src, src / "manifests")
    n = len(info_calls)
    assert prepare_folder(src, src / "manifests") == {"all": src / "manifests" / "all.jsonl"}
    assert len(info_calls) == n


def test_folder_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="same-name .txt"):
        prepare_folder(tmp_path / "none", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files"):
        prepare_folder(tmp_path / "empty", tmp_path / "out")


# --- table ---------------------------------------------------------------------------------------

def test_table_tsv(tmp_path, caplog, info_calls):
    write_audio(tmp_path / "wav" / "a.wav", 0.5)
    write_audio(tmp_path / "wav" / "b.wav", 2.0)
    table = write_text(tmp_path / "list.tsv",
                       "ID\tPath\tDuration_s\tSpeaker\tText\n"
                       'a1\twav/a.wav\t0.5\tspk1\t"Quoted" 5 words\n'
                       "b1\twav/b.wav\t\t\tsecond\n"
                       "c1\twav/missing.wav\t1.0\tspk1\tgone\n"
                       "d1\twav/a.wav\tlong\tspk1\tbad duration\n")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = prepare_table(table, tmp_path / "out")
    utts = by_id(out["all"])
    assert sorted(utts) == ["a1", "b1"]
    assert utts["a1"].text == "quoted five words" and utts["a1"].speaker == "spk1"
    assert utts["a1"].audio == str((tmp_path / "wav" / "a.wav").resolve())
    assert utts["b1"].duration == 2.0 and utts["b1"].speaker is None  # measured when not given
    assert len(info_calls) == 1  # only b.wav had no duration in the table
    msgs = warnings_of(caplog)
    assert any("missing.wav" in m for m in msgs) and any("list.tsv:5" in m for m in msgs)


def test_table_csv_segments_splits_and_sniffing(tmp_path):
    write_audio(tmp_path / "audio" / "long.wav", 3.0)
    csv_table = write_text(tmp_path / "t.csv",
                           "audio,transcript,start,end,split\n"
                           'audio/long.wav,"one, two",0.5,1.5,train\n'
                           "audio/long.wav,three,2.0,,dev\n")
    out = prepare_table(csv_table, tmp_path / "out")
    assert sorted(out) == ["dev", "train"]
    [seg] = read_manifest(out["train"])
    assert (seg.start, seg.end, seg.duration, seg.text) == (0.5, 1.5, 1.0, "one two")
    [rest] = read_manifest(out["dev"])
    assert rest.duration == pytest.approx(1.0)
    assert (seg.id, rest.id) == ("long-00000500", "long-00002000")  # one file, two segments
    semi = write_text(tmp_path / "t.txt", "file;sentence\naudio/long.wav;semicolons work\n")
    [u] = read_manifest(prepare_table(semi, tmp_path / "out2")["all"])
    assert u.text == "semicolons work" and u.id == "long"


def test_table_missing_columns_and_file(tmp_path):
    table = write_text(tmp_path / "bad.tsv", "id\tpath\tduration\nx\ta.wav\t1\n")
    with pytest.raises(ManifestError) as e:
        prepare_table(table, tmp_path / "out")
    msg = str(e.value)
    assert msg.startswith(f"{table.resolve()}:1:") and "text column" in msg and "transcript" in msg and "\n" not in msg
    with pytest.raises(FileNotFoundError, match="header row"):
        prepare_table(tmp_path / "nope.tsv", tmp_path / "out")


# --- registry ------------------------------------------------------------------------------------

def test_prepare_dispatch(fsdd_dir, tmp_path):
    assert set(PREPARERS) == {"fsdd", "an4", "ljspeech", "librispeech", "folder", "table"}
    assert prepare("fsdd", fsdd_dir, tmp_path / "out")["test"] == tmp_path / "out" / "test.jsonl"
    with pytest.raises(ValueError, match="unknown corpus 'timit'.*an4, folder, fsdd, librispeech, ljspeech, table"):
        prepare("timit", fsdd_dir, tmp_path / "out")


# --- real corpora --------------------------------------------------------------------------------

@pytest.mark.data
def test_real_fsdd(data_root, tmp_path):
    out = prepare_fsdd(corpus(data_root, "fsdd"), tmp_path)
    train, test = read_manifest(out["train"]), read_manifest(out["test"])
    assert (len(train), len(test)) == (2700, 300)
    assert {u.speaker for u in train} == {u.speaker for u in test} == {
        "george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
    assert {int(u.id.split("_")[2]) for u in test} == set(range(5))
    assert {int(u.id.split("_")[2]) for u in train} == set(range(5, 50))
    words = "zero one two three four five six seven eight nine".split()
    assert all(u.text == words[int(u.id[0])] for u in train + test)
    assert total_duration(train) / 60 == pytest.approx(19.72, abs=0.01)


@pytest.mark.data
def test_real_an4(data_root, tmp_path):
    out = prepare_an4(corpus(data_root, "an4"), tmp_path)
    train, test = by_id(out["train"]), by_id(out["test"])
    assert (len(train), len(test)) == (948, 130)
    assert train["an255-fash-b"].text == "u m n y h six" and train["an255-fash-b"].speaker == "fash"
    assert test["an406-fcaw-b"].text == "rubout g m e f three nine"
    assert len({u.speaker for u in train.values()}) == 74 and len({u.speaker for u in test.values()}) == 10
    assert total_duration(train.values()) / 60 == pytest.approx(42.44, abs=0.01)


@pytest.mark.data
def test_real_ljspeech_subset(data_root, tmp_path):
    utts = by_id(prepare_ljspeech(corpus(data_root, "LJSpeech-subset"), tmp_path)["all"])
    assert len(utts) == 49
    assert utts["LJ001-0002"].text == "in being comparatively modern"
    assert total_duration(utts.values()) / 60 == pytest.approx(5.41, abs=0.01)


@pytest.mark.data
def test_real_harvard_table(data_root, tmp_path):
    utts = by_id(prepare_table(corpus(data_root, "harvard") / "manifest.tsv", tmp_path)["all"])
    assert len(utts) == 12 and {u.speaker for u in utts.values()} == {"spk1", "spk2"}
    assert utts["spk1_snt1"].text == "the child almost hurt the small dog"
    assert utts["spk1_snt1"].duration == pytest.approx(2.87)
    assert all(Path(u.audio).is_file() for u in utts.values())


@pytest.fixture(scope="module")
def kathleen(data_root, tmp_path_factory):
    """Prepared once: reading 1620 audio headers is the slow part."""
    src = corpus(data_root, "kathleen")
    out_dir = tmp_path_factory.mktemp("kathleen")
    return src, out_dir, prepare_folder(src, out_dir)


@pytest.mark.data
def test_real_kathleen_folder(kathleen):
    src, _, out = kathleen
    utts = by_id(out["all"])
    assert len(utts) == 1620
    u = utts["arctic_a0001_1592748574"]
    assert u.text == "author of the danger trail philip steels etc" and u.speaker is None
    assert u.audio == str((src / "audio" / "arctic_a0001_1592748574.flac").resolve())
    assert total_duration(utts.values()) / 60 == pytest.approx(82.08, abs=0.01)
    assert all(u.text for u in utts.values())


@pytest.mark.data
def test_real_kathleen_rerun_reads_no_audio(kathleen, monkeypatch):
    src, out_dir, out = kathleen

    def fail(*args, **kwargs):
        raise AssertionError("audio read on a re-run")

    monkeypatch.setattr(soundfile, "info", fail)
    assert prepare_folder(src, out_dir) == out
