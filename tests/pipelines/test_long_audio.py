"""Transcription of long recordings: segmented at quiet points, read one window at a time."""
import json

import numpy as np
import pytest
import soundfile as sf

import speech.runtime.segment as segment_mod
from speech.cli.main import main
from speech.runtime.segment import SegmentConfig, segments
from speech.pipelines.transcriber import Transcriber

SR = 8000


def bursts_with_pauses(minutes: float, seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Noise bursts of 1-6 s separated by 0.4-1 s of near-silence; returns audio and the silences."""
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * SR)
    out = np.zeros(total, np.float32)
    silences, pos = [], 0
    while pos < total:
        speech_len = int(rng.uniform(1, 6) * SR)
        out[pos:pos + speech_len] = 0.3 * rng.standard_normal(min(speech_len, total - pos))
        pos += speech_len
        pause = int(rng.uniform(0.4, 1.0) * SR)
        silences.append((pos / SR, min(pos + pause, total) / SR))
        out[pos:pos + pause] = 1e-4 * rng.standard_normal(len(out[pos:pos + pause]))
        pos += pause
    return out, silences


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pause", "window"])
def test_thirty_minutes_in_bounded_windows(tmp_path, tiny_package, monkeypatch, method):
    wav, silences = bursts_with_pauses(30)
    path = tmp_path / "long.flac"
    sf.write(path, wav, SR)
    reads = []
    real_load = segment_mod.load

    def spy(p, sr=None, *, start=None, end=None, **kw):
        reads.append((start, end))
        return real_load(p, sr, start=start, end=end, **kw)

    monkeypatch.setattr(segment_mod, "load", spy)
    cfg = SegmentConfig(max_seconds=20, search_seconds=4, method=method)
    tr = Transcriber(tiny_package, batch_size=16, segment=cfg)
    result = tr.transcribe_file(path)
    # every read is one window, never the whole file
    assert all(end - start <= cfg.max_seconds + 1e-6 for start, end in reads)
    assert len(reads) >= 30 * 60 / cfg.max_seconds
    segs = result.segments
    assert max(s.end - s.start for s in segs) <= cfg.max_seconds + 1e-6
    assert result.duration == pytest.approx(30 * 60, abs=0.05)
    if method == "window":  # the segments tile the recording, cut at quiet points
        assert segs[0].start == 0 and abs(segs[-1].end - 30 * 60) < 0.05
        for a, b in zip(segs, segs[1:]):
            assert abs(a.end - b.start) < 1e-3
        # every window's last 4 s holds a pause (bursts last at most 6 s), but a cut may still land
        # on a quiet frame inside a burst
        in_pause = sum(any(lo - 0.03 <= s.start <= hi + 0.03 for lo, hi in silences) for s in segs[1:])
        assert in_pause >= 0.8 * (len(segs) - 1)
    else:  # one segment per burst: each boundary lies in a pause, with at most 0.1 s of it kept
        assert len(segs) == len(silences)
        for a, b in zip(segs, segs[1:]):
            assert a.end <= b.start
            assert any(lo - 0.02 <= a.end <= lo + 0.12 and hi - 0.12 <= b.start <= hi + 0.02 for lo, hi in silences)
    assert tr.real_time_factor < 0.5


def test_segments_cover_short_and_exact_lengths(tmp_path):
    for seconds in (0.5, 20.0, 20.5, 47.0):
        path = tmp_path / f"x{seconds}.wav"
        sf.write(path, 0.1 * np.ones(int(seconds * SR), np.float32), SR)
        got = list(segments(path, SR, SegmentConfig(max_seconds=20, search_seconds=4, method="window")))
        assert sum(len(w) for _, w in got) == int(seconds * SR)
        assert all(len(w) <= 20 * SR for _, w in got)
    with pytest.raises(ValueError, match="search_seconds"):
        SegmentConfig(max_seconds=5, search_seconds=5)


def test_cli_json_lists_segments_of_long_files(tmp_path, tiny_package, capsys):
    wav, _ = bursts_with_pauses(1.0, seed=1)
    sf.write(tmp_path / "minute.wav", wav, SR)
    sf.write(tmp_path / "short.wav", wav[: 2 * SR], SR)
    rc = main(["transcribe", str(tmp_path / "short.wav"), str(tmp_path / "minute.wav"), "--model", str(tiny_package),
               "--format", "json"])
    assert rc == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"].split("/")[-1] for r in rows] == ["short.wav", "minute.wav"]
    assert "segments" not in rows[0] and len(rows[1]["segments"]) >= 3
    assert rows[1]["duration"] == pytest.approx(60.0, abs=0.05)


def test_subtitle_cues_and_timestamps(tmp_path, tiny_package, capsys):
    from speech.pipelines.subtitles import group_cues, to_srt, to_vtt

    words = [{"word": "a", "start": 0.0, "end": 0.4}, {"word": "b", "start": 0.5, "end": 0.9},
             {"word": "c", "start": 2.5, "end": 3.0}]
    cues = group_cues(words, max_gap=0.8)
    assert [c["text"] for c in cues] == ["a b", "c"]
    assert to_srt(cues).splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:00,900", "a b"]
    assert to_vtt(cues).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.900\na b")
    wav, _ = bursts_with_pauses(0.5, seed=2)
    sf.write(tmp_path / "half.wav", wav, SR)
    assert main(["transcribe", str(tmp_path / "half.wav"), "--model", str(tiny_package), "--format", "json",
                 "--timestamps"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert isinstance(row["words"], list)
    ends = [w["end"] for w in row["words"]]
    assert ends == sorted(ends) and all(0 <= w["start"] < w["end"] <= 30.0 + 1e-6 for w in row["words"])
    assert len(row["words"]) == len(row["text"].split())


def test_pause_method_cuts_once_in_every_pause(tmp_path):
    wav, silences = bursts_with_pauses(2.0, seed=3)
    wav = np.concatenate([np.zeros(SR, np.float32), wav])  # a second of leading silence
    silences = [(lo + 1, hi + 1) for lo, hi in silences]
    path = tmp_path / "two.wav"
    sf.write(path, wav, SR)
    got = list(segments(path, SR, SegmentConfig(method="pause", max_seconds=20, min_pause=0.3, pad_seconds=0.1)))
    spans = [(s, s + len(w) / SR) for s, w in got]
    # leading silence skipped but for the pad; one segment per burst; trailing pause trimmed too
    assert spans[0][0] == pytest.approx(0.9, abs=0.021)
    assert len(spans) == len(silences)
    end = len(wav) / SR  # the last burst may run to the end of the file
    bursts = [(0.0 if i == 0 else silences[i - 1][1], min(silences[i][0], end)) for i in range(len(silences))]
    bursts[0] = (1.0, bursts[0][1])
    for (s, e), (lo, hi) in zip(spans, bursts):
        assert lo - 0.12 <= s <= lo + 0.001 and hi - 0.001 <= e <= hi + 0.12, ((s, e), (lo, hi))
    # reading the segments back gives the bursts' samples exactly
    stored, _ = sf.read(path, dtype="float32")  # 16-bit PCM
    for (s, w) in got:
        i = int(round(s * SR))
        assert np.array_equal(w, stored[i:i + len(w)])


def test_pause_method_min_seconds_merges_and_window_fallback(tmp_path):
    wav, _ = bursts_with_pauses(2.0, seed=4)
    path = tmp_path / "m.wav"
    sf.write(path, wav, SR)
    merged = list(segments(path, SR, SegmentConfig(method="pause", max_seconds=20, min_seconds=8)))
    assert all(len(w) >= 8 * SR - 0.1 * SR for _, w in merged[:-1])
    assert len(merged) < len(list(segments(path, SR, SegmentConfig(method="pause", max_seconds=20))))
    # continuous sound without pauses: the window rule still bounds the segments
    noise = 0.3 * np.random.default_rng(0).standard_normal(50 * SR).astype(np.float32)
    sf.write(tmp_path / "n.wav", noise, SR)
    got = list(segments(tmp_path / "n.wav", SR, SegmentConfig(method="pause", max_seconds=20, search_seconds=4)))
    assert len(got) == 3 and all(len(w) <= 20 * SR for _, w in got)
    assert sum(len(w) for _, w in got) == len(noise)


def test_segment_config_rejects_bad_values():
    with pytest.raises(ValueError, match="segment.method"):
        SegmentConfig(method="vad2")
    with pytest.raises(ValueError, match="min_pause"):
        SegmentConfig(min_pause=0)
    with pytest.raises(ValueError, match="pad_seconds"):
        SegmentConfig(pad_seconds=0.5, min_pause=0.3)
    with pytest.raises(ValueError, match="min_seconds"):
        SegmentConfig(min_seconds=30)
