"""Isolated-word clips cut out of connected speech by forced alignment (speech.recipes.word_clips)."""
from __future__ import annotations

import json

import pytest

from speech.audio import info
from speech.data.manifest import Utterance
from speech.recipes.word_clips import INDEX, clip_bounds, word_clips

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def test_clip_bounds_widen_the_span_but_stop_halfway_to_the_neighbours():
    spans = [(0.10, 0.40), (0.50, 0.80), (1.50, 1.90)]
    # the first word: the margin reaches back to 0.02, forward only to the midpoint 0.45
    assert clip_bounds(spans, 0, 0.08, 2.0) == pytest.approx((0.02, 0.45))
    # the middle word: back to the midpoint 0.45, forward the full margin (the gap is wide)
    assert clip_bounds(spans, 1, 0.08, 2.0) == pytest.approx((0.45, 0.88))
    # the last word: clipped at the end of the recording
    assert clip_bounds(spans, 2, 0.2, 2.0) == pytest.approx((1.30, 2.0))
    assert clip_bounds([(0.01, 0.3)], 0, 0.08, 0.35) == pytest.approx((0.0, 0.35))


@pytest.fixture(scope="module")
def an4_utts(data_root, tmp_path_factory):
    """The first six AN4 training recordings whose transcripts are digit words only."""
    from speech.data.manifest import read_manifest
    from speech.data.prepare import prepare

    splits = prepare("an4", data_root / "an4", tmp_path_factory.mktemp("an4"))
    utts = [u for u in read_manifest(splits["train"]) if set(u.text.split()) <= set(DIGITS) | {"oh"}]
    return utts[:6]


def test_digit_words_are_cut_out_and_read_back_as_those_words(an4_utts, tmp_path):
    """Every digit word of six AN4 digit strings becomes a clip at 8 kHz that the bundled digit
    recognizer (trained on whole strings, never on these cuts) reads as that word; a second call reads
    the clip list back without aligning again."""
    from speech.packages.registry import resolve_model
    from speech.pipelines.transcriber import Transcriber

    clips = word_clips(resolve_model("an4"), an4_utts, DIGITS, tmp_path / "clips", sample_rate=8000, progress=False)
    expected = [(u.id, w) for u in an4_utts for w in u.text.split() if w in DIGITS]
    assert [c.text for c in clips] == [w for _, w in expected]
    assert [c.id.rsplit("-", 2)[0] for c in clips] == [uid for uid, _ in expected]
    by_id = {u.id: u for u in an4_utts}
    for c in clips:
        assert c.speaker == by_id[c.id.rsplit("-", 2)[0]].speaker
        meta = info(c.audio)
        assert meta.sample_rate == 8000
        assert 0.05 <= meta.duration <= 1.2  # a word, not the utterance
    tr = Transcriber(resolve_model("digits"))
    heard = [tr.transcribe_file(c.audio).text for c in clips]
    right = sum(h == c.text for h, c in zip(heard, clips))
    assert right >= 0.7 * len(clips), list(zip([c.text for c in clips], heard))
    # read back from clips.jsonl: the package is not even loaded
    again = word_clips(tmp_path / "no-such-package", an4_utts, DIGITS, tmp_path / "clips", sample_rate=8000)
    assert again == clips
    assert len((tmp_path / "clips" / INDEX).read_text().splitlines()) == len(clips)


def test_unreadable_recordings_and_segments_are_skipped(an4_utts, tmp_path):
    from speech.packages.registry import resolve_model

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt not really")
    utts = [Utterance(id="bad", audio=str(bad), duration=1.0, text="one two", speaker="x"),
            Utterance(id="seg", audio=an4_utts[0].audio, duration=0.5, text="one", speaker="y", start=0.0, end=0.5),
            an4_utts[0]]
    clips = word_clips(resolve_model("an4"), utts, DIGITS, tmp_path / "clips", sample_rate=8000, progress=False)
    assert clips and {c.id.rsplit("-", 2)[0] for c in clips} == {an4_utts[0].id}
    rows = [json.loads(line) for line in (tmp_path / "clips" / INDEX).read_text().splitlines()]
    assert [r["id"] for r in rows] == [c.id for c in clips]
