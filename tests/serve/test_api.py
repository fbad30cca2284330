"""The HTTP API through FastAPI's TestClient: models, health, key, the transcription formats, the speech
formats, long files and the metrics, against the bundled digits recognizer and kathleen voice."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
import soundfile as sf

from speech.audio import load
from tests.serve.conftest import wav_bytes


def transcribe(client, path, **fields):
    with open(path, "rb") as fh:
        return client.post("/v1/audio/transcriptions", files={"file": (path.name, fh.read(), "audio/wav")},
                           data={"model": "digits", **fields})


def test_models_list_both_tasks_with_their_defaults(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    cards = {m["id"]: m for m in r.json()["data"]}
    assert set(cards) == {"digits", "kathleen"}
    assert cards["digits"]["task"] == "transcription" and cards["digits"]["default"]
    assert cards["digits"]["sample_rate"] == 8000
    assert cards["kathleen"]["task"] == "speech" and cards["kathleen"]["voices"] == ["kathleen"]
    assert client.get("/v1/models/kathleen").json()["id"] == "kathleen"
    missing = client.get("/v1/models/nobody")
    assert missing.status_code == 404 and "digits, kathleen" in missing.json()["error"]["message"]


def test_health_is_open_and_everything_else_needs_the_key(make_client):
    with make_client(api_key="s3cret") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz").json()["models"] == ["digits", "kathleen"]
        for method, path in (("get", "/v1/models"), ("get", "/metrics"), ("post", "/v1/audio/speech"),
                             ("post", "/v1/audio/transcriptions")):
            r = getattr(c, method)(path)
            assert r.status_code == 401, path
            assert r.json()["error"]["type"] == "authentication_error"
        assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_the_key_can_come_from_the_environment(make_client, monkeypatch):
    monkeypatch.setenv("SPEECH_API_KEY", "from-env")
    with make_client() as c:
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer from-env"}).status_code == 200


@pytest.mark.data
def test_every_transcription_format_of_a_digit(client, fsdd_clips):
    path, word = fsdd_clips[7]
    assert transcribe(client, path).json() == {"text": word}
    r = transcribe(client, path, response_format="text")
    assert r.status_code == 200 and r.text.strip() == word and r.headers["content-type"].startswith("text/plain")
    srt = transcribe(client, path, response_format="srt").text
    assert re.match(rf"1\n00:00:\d\d,\d{{3}} --> 00:00:\d\d,\d{{3}}\n{word}\n", srt), srt
    vtt = transcribe(client, path, response_format="vtt").text
    assert vtt.startswith("WEBVTT\n\n") and word in vtt
    v = transcribe(client, path, response_format="verbose_json").json()
    duration = sf.info(str(path)).duration
    assert v["text"] == word and v["duration"] == pytest.approx(duration, abs=0.01)
    assert [w["word"] for w in v["words"]] == [word]
    assert 0 <= v["words"][0]["start"] < v["words"][0]["end"] <= duration + 0.05
    assert v["segments"][0]["text"] == word and v["segments"][0]["end"] == pytest.approx(duration, abs=0.01)


@pytest.mark.data
def test_a_flac_upload_at_another_rate_is_resampled(client, fsdd_clips):
    path, word = fsdd_clips[3]
    wav, sr = load(path, 16000)
    r = client.post("/v1/audio/transcriptions", files={"file": ("x.flac", wav_bytes(wav, sr, "FLAC"))},
                    data={"model": "digits"})
    assert r.status_code == 200 and r.json()["text"] == word


@pytest.mark.data
def test_a_long_upload_is_cut_at_pauses_like_the_command_line(client, served_models, fsdd_clips, tmp_path):
    """25 s of digits and pauses: longer than one segment, so the server reads it a window at a time
    and answers what the offline transcriber gives for the same file, segment by segment."""
    sr = 8000
    parts = []
    for path, _ in fsdd_clips:
        parts += [load(path, sr)[0], np.zeros(int(2.0 * sr), np.float32)]
    long_wav = np.concatenate(parts)
    path = tmp_path / "digits.wav"
    sf.write(path, long_wav, sr)
    assert len(long_wav) / sr > served_models.get("digits", "transcription").engine.segment.max_seconds
    v = transcribe(client, path, response_format="verbose_json").json()
    offline = served_models.get("digits", "transcription").engine.transcribe_file(path, timestamps=True)
    assert v["text"] == offline.text and len(v["segments"]) == len(offline.segments) > 1
    assert [w["word"] for w in v["words"]] == [w["word"] for w in offline.words]


def test_silence_gives_an_empty_text_and_the_reason(client):
    r = client.post("/v1/audio/transcriptions", files={"file": ("quiet.wav", wav_bytes(np.zeros(8000), 8000))},
                    data={"model": "digits", "response_format": "verbose_json"})
    assert r.status_code == 200
    body = r.json()
    assert body["text"] == "" and body["words"] == [] and "quiet.wav: no speech found" in body["warnings"][0]


def test_a_client_file_name_never_becomes_a_path(client, tmp_path):
    target = tmp_path / "planted.wav"
    r = client.post("/v1/audio/transcriptions", files={"file": (f"../../..{target}", b"not audio")},
                    data={"model": "digits"})
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("file 'planted.wav': cannot decode")
    assert not target.exists()


@pytest.mark.parametrize("fmt,subtype", [("wav", "PCM_16"), ("flac", "PCM_16"), ("mp3", None), ("pcm", None)])
def test_speech_in_every_format(client, fmt, subtype):
    r = client.post("/v1/audio/speech", json={"model": "kathleen", "input": "Seven apples.", "voice": "kathleen",
                                              "response_format": fmt})
    assert r.status_code == 200, r.text
    sr, duration = int(r.headers["x-sample-rate"]), float(r.headers["x-audio-duration"])
    assert sr == 22050 and 0.5 < duration < 5.0
    if fmt == "pcm":
        assert r.headers["content-type"] == "audio/pcm"
        assert len(r.content) == pytest.approx(duration * sr * 2, abs=2 * sr * 0.001)  # the header rounds to ms
        return
    wav, got_sr = sf.read(io.BytesIO(r.content))
    assert got_sr == sr
    assert len(wav) / sr == pytest.approx(duration, abs=0.1)  # mp3 pads a frame
    assert np.abs(wav).max() > 0.01
    if subtype:
        assert sf.info(io.BytesIO(r.content)).subtype == subtype


def test_openai_names_mean_the_defaults_and_speed_changes_the_length(client):
    def seconds(**body):
        r = client.post("/v1/audio/speech", json={"input": "Good morning to you all.", "response_format": "wav",
                                                  **body})
        assert r.status_code == 200, r.text
        return float(r.headers["x-audio-duration"])

    normal = seconds(model="tts-1", voice="alloy")
    assert seconds(model="tts-1-hd", voice="kathleen") == pytest.approx(normal, abs=0.02)
    assert seconds(model="kathleen", voice="nova", speed=2.0) < 0.75 * normal


def test_metrics_count_requests_errors_and_audio(client):
    client.post("/v1/audio/speech", json={"model": "kathleen", "input": "One.", "response_format": "wav"})
    client.post("/v1/audio/speech", json={"model": "kathleen", "input": ""})
    client.get("/v1/nothing")
    text = client.get("/metrics").text
    assert 'speech_requests_total{method="POST",route="/v1/audio/speech",status="200"} 1' in text
    assert 'speech_requests_total{method="POST",route="/v1/audio/speech",status="400"} 1' in text
    assert 'speech_request_errors_total{route="/v1/audio/speech",kind="client"} 1' in text
    assert 'speech_request_seconds_count{route="/v1/audio/speech"} 2' in text
    synthesized = float(re.search(r'speech_audio_seconds_total\{direction="synthesized"\} ([\d.]+)', text).group(1))
    assert synthesized > 0.2
    assert 'speech_queue_capacity{queue="asr"} 64' in text


def test_the_docs_list_the_audio_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/audio/transcriptions", "/v1/audio/speech", "/v1/models", "/healthz", "/metrics"} <= set(paths)


@pytest.mark.data
def test_a_truncated_long_upload_is_reported_once_under_its_own_name(client, fsdd_clips, tmp_path):
    parts = []
    for path, _ in fsdd_clips:
        parts += [load(path, 8000)[0], np.zeros(16000, np.float32)]
    path = tmp_path / "cut.wav"
    sf.write(path, np.concatenate(parts), 8000, subtype="PCM_16")
    data = path.read_bytes()[:-8000]  # the header still promises the half second cut off
    r = client.post("/v1/audio/transcriptions", files={"file": ("cut.wav", data)},
                    data={"model": "digits", "response_format": "verbose_json"})
    assert r.status_code == 200, r.text
    warnings = r.json()["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("cut.wav: "), warnings
    assert "speech-serve-" not in warnings[0]
