"""Tests for speech.data.manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from speech.data.manifest import ManifestError, Utterance, read_manifest, total_duration, write_manifest


def test_to_dict_omits_none():
    u = Utterance(id="a", audio="/x.wav", duration=1.5, text="hi")
    assert u.to_dict() == {"id": "a", "audio": "/x.wav", "duration": 1.5, "text": "hi"}
    seg = Utterance(id="b", audio="x.wav", duration=1.0, speaker="s", start=2.0, end=3.0)
    assert seg.to_dict() == {"id": "b", "audio": "x.wav", "duration": 1.0, "text": "", "speaker": "s",
                             "start": 2.0, "end": 3.0}


def test_write_read_round_trip_resolves_relative_paths(tmp_path):
    utts = [
        Utterance(id="a", audio="/abs/a.wav", duration=1.25, text="caf\u00e9 one", speaker="s1"),
        Utterance(id="b", audio="wav/b.flac", duration=0.5, start=0.25, end=0.75),
    ]
    path = write_manifest(tmp_path / "new" / "dir" / "m.jsonl", utts)
    assert path == tmp_path / "new" / "dir" / "m.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["audio"] == "wav/b.flac"  # written as given
    assert "caf\u00e9" in lines[0]
    back = read_manifest(path)
    assert back[0] == utts[0]
    assert back[1].audio == str(tmp_path.resolve() / "new" / "dir" / "wav" / "b.flac")
    assert (back[1].start, back[1].end, back[1].text, back[1].speaker) == (0.25, 0.75, "", None)
    assert total_duration(back) == pytest.approx(1.75)
    assert [p.name for p in path.parent.iterdir()] == ["m.jsonl"]  # no temp file left behind


def test_blank_lines_and_unknown_fields_are_ignored(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('\n{"id": "a", "audio": "/a.wav", "duration": 2, "lang": "en"}\n\n', encoding="utf-8")
    [u] = read_manifest(path)
    assert u == Utterance(id="a", audio="/a.wav", duration=2.0)


def test_write_is_atomic_on_bad_input(tmp_path):
    path = write_manifest(tmp_path / "m.jsonl", [Utterance(id="a", audio="/a.wav", duration=1.0)])
    before = path.read_text()
    with pytest.raises(ValueError, match="duration"):
        write_manifest(path, [Utterance(id="b", audio="/b.wav", duration=1.0),
                              Utterance(id="c", audio="/c.wav", duration=0.0)])
    with pytest.raises(ValueError, match="repeats"):
        write_manifest(path, [Utterance(id="b", audio="/b.wav", duration=1.0)] * 2)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl"]


GOOD = '{"id": "ok", "audio": "/a.wav", "duration": 1.0}'


@pytest.mark.parametrize("line, field, expected", [
    ("{not json", "not valid JSON", "expected one JSON object per line"),
    ('["a", 1]', "JSON list", "expected an object"),
    ('{"audio": "/a.wav", "duration": 1.0}', "missing field 'id'", "expected a non-empty string"),
    ('{"id": "x", "duration": 1.0}', "missing field 'audio'", "expected a non-empty string"),
    ('{"id": "x", "audio": "/a.wav"}', "missing field 'duration'", "expected a number of seconds > 0"),
    ('{"id": 5, "audio": "/a.wav", "duration": 1.0}', "field 'id' is 5", "expected a non-empty string"),
    ('{"id": "x", "audio": "", "duration": 1.0}', "field 'audio' is ''", "expected a non-empty string"),
    ('{"id": "x", "audio": "/a.wav", "duration": "1.0"}', "field 'duration' is '1.0'", "> 0"),
    ('{"id": "x", "audio": "/a.wav", "duration": 0}', "field 'duration' is 0", "> 0"),
    ('{"id": "x", "audio": "/a.wav", "duration": -1.5}', "field 'duration' is -1.5", "> 0"),
    ('{"id": "x", "audio": "/a.wav", "duration": true}', "field 'duration' is True", "> 0"),
    ('{"id": "x", "audio": "/a.wav", "duration": 1, "text": 3}', "field 'text' is 3", "expected a string"),
    ('{"id": "x", "audio": "/a.wav", "duration": 1, "speaker": 7}', "field 'speaker' is 7", "string or null"),
    ('{"id": "x", "audio": "/a.wav", "duration": 1, "start": "0"}', "field 'start' is '0'", "seconds >= 0"),
    ('{"id": "x", "audio": "/a.wav", "duration": 1, "start": 2, "end": 1}', "'start' (2) is not before 'end' (1)",
     "start < end"),
    ('{"id": "x", "audio": "/a.wav", "duration": 1, "start": 1, "end": 1}', "'start' (1) is not before", "start < end"),
    ('{"id": "ok", "audio": "/b.wav", "duration": 1}', "field 'id' 'ok' already used on line 2", "unique ids"),
])
def test_malformed_lines_name_file_line_and_field(tmp_path, line, field, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n" + GOOD + "\n" + line + "\n" + GOOD.replace('"ok"', '"later"') + "\n", encoding="utf-8")
    with pytest.raises(ManifestError) as e:
        read_manifest(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:3: "), msg  # blank line 1 still counts
    assert field in msg and expected in msg and "\n" not in msg


def test_missing_manifest_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "nope.jsonl")


def test_relative_manifest_path(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "m.jsonl").write_text('{"id": "a", "audio": "x.wav", "duration": 1}\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    [u] = read_manifest(Path("d") / "m.jsonl")
    assert os.path.isabs(u.audio) and u.audio == str(tmp_path.resolve() / "d" / "x.wav")
