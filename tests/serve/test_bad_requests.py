"""The README's table of bad requests ("Serve"), row by row: each row's request must get exactly the
row's status code and message, in OpenAI's error shape. A row without a setup here fails, and so does a
setup without a row."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from speech.serve.settings import ServeSettings
from tests.serve.conftest import running_server, wav_bytes
from tests.serve.fakes import gated_models

README = Path(__file__).resolve().parents[2] / "README.md"
TRANSCRIBE, SPEAK = "/v1/audio/transcriptions", "/v1/audio/speech"
SMALL = {"max_upload_mb": 0.1, "max_audio_seconds": 3.0, "max_text_chars": 100}
"""Limits small enough for small test data (the README's rows name the defaults)."""


def table_rows() -> list[dict]:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- serve-error-table -->(.*?)<!-- /serve-error-table -->", text, re.S)
    rows = []
    for line in (m.group(1) if m else "").splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|- :"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]
        if cells[0] != "case":
            rows.append({"case": cells[0], "status": int(cells[2]), "message": cells[3]})
    return rows


def message_pattern(cell: str) -> re.Pattern:
    parts = re.split(r"<[^<>]*>", cell.strip().strip("`"))
    return re.compile("^" + ".+?".join(re.escape(p) for p in parts) + "$")


def upload(c, name: str, data: bytes, **fields):
    return c.post(TRANSCRIBE, files={"file": (name, data)}, data={"model": "digits", **fields})


def speak(c, **body):
    return c.post(SPEAK, json={"model": "kathleen", "input": "Hello.", **body})


def chunked_too_large(c):
    boundary = "xyz"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()

    def body():  # a generator: httpx sends it chunked, without Content-Length
        yield head
        for _ in range(20):
            yield b"\0" * 8192

    return c.post(TRANSCRIBE, content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def queue_full(_client):
    """A live server whose recognizer holds its batch: one request runs, two wait (the queue's capacity),
    the fourth is refused; then the three finish."""
    models, engine = gated_models()
    settings = ServeSettings(asr_queue=2, max_batch=1, batch_wait_ms=0)
    clip = wav_bytes(np.full(800, 0.1, np.float32), 8000)
    with running_server(models, settings) as url, httpx.Client(base_url=url, timeout=60) as c:
        results = []

        def send():
            results.append(c.post(TRANSCRIBE, files={"file": ("a.wav", clip)}).status_code)

        threads = [threading.Thread(target=send) for _ in range(3)]
        threads[0].start()
        assert engine.entered.wait(30)
        for t in threads[1:]:
            t.start()
        while c.get("/healthz").json()["queues"]["asr"]["waiting"] < 2:
            threading.Event().wait(0.01)
        refused = c.post(TRANSCRIBE, files={"file": ("a.wav", clip)})
        engine.release.set()
        for t in threads:
            t.join(60)
        assert results == [200, 200, 200]
        assert refused.headers.get("retry-after") == "1"
        return refused


SETUPS = {
    "no file": lambda c: c.post(TRANSCRIBE, data={"model": "digits"}),
    "empty upload": lambda c: upload(c, "empty.wav", b""),
    "corrupt audio": lambda c: upload(c, "notes.wav", b"shopping list: eggs, milk\n"),
    "unsupported audio": lambda c: upload(c, "take.raw", np.zeros(4000, "<i2").tobytes()),
    "upload too large": lambda c: upload(c, "big.wav", b"\0" * 120_000),
    "upload too large, no Content-Length": chunked_too_large,
    "audio too long": lambda c: upload(c, "long.wav", wav_bytes(np.zeros(8000 * 4, np.float32), 8000)),
    "unknown recognizer": lambda c: c.post(TRANSCRIBE, files={"file": ("a.wav", b"x")}, data={"model": "digitz"}),
    "a voice asked to transcribe": lambda c: c.post(TRANSCRIBE, files={"file": ("a.wav", b"x")},
                                                    data={"model": "kathleen"}),
    "unknown transcription format": lambda c: upload(c, "a.wav", b"x", response_format="docx"),
    "another language": lambda c: upload(c, "a.wav", b"x", language="fr"),
    "empty text": lambda c: speak(c, input=""),
    "text too long": lambda c: speak(c, input="a" * 5000),
    "nothing to say": lambda c: speak(c, input="!!! ..."),
    "body not JSON": lambda c: c.post(SPEAK, content=b"hello", headers={"Content-Type": "application/json"}),
    "speed out of range": lambda c: speak(c, speed=9),
    "unknown audio format": lambda c: speak(c, response_format="opus"),
    "unknown voice": lambda c: speak(c, voice="bob"),
    "unknown voice model": lambda c: speak(c, model="nobody"),
    "no or wrong API key": None,  # needs a server with a key: see below
    "queue full": queue_full,
    "unknown route": lambda c: c.get("/v1/nothing"),
}


def test_every_row_has_a_setup_and_every_setup_a_row():
    cases = [r["case"] for r in table_rows()]
    assert cases, "README.md lacks the <!-- serve-error-table --> table"
    assert sorted(cases) == sorted(SETUPS)


@pytest.mark.parametrize("row", table_rows(), ids=lambda r: r["case"])
def test_row(row, make_client):
    with make_client(**SMALL, api_key="k3y" if row["case"] == "no or wrong API key" else None) as c:
        if row["case"] == "no or wrong API key":
            r = c.get("/v1/models", headers={"Authorization": "Bearer nope"})
        else:
            r = SETUPS[row["case"]](c)
    assert r.status_code == row["status"], r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert message_pattern(row["message"]).match(error["message"]), (row["message"], error["message"])
