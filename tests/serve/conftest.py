"""Fixtures of the server tests: the bundled ``digits`` recognizer and ``kathleen`` voice loaded once,
an in-process client (FastAPI's TestClient, the app's own lifespan running) and a real uvicorn
server on 127.0.0.1 for the OpenAI client, the browser and the load test."""
from __future__ import annotations

import io
import socket
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
import soundfile as sf
import uvicorn
from fastapi.testclient import TestClient

from speech.serve.app import create_app
from speech.serve.models import ModelSet
from speech.serve.settings import ServeSettings


@pytest.fixture(scope="session")
def served_models() -> ModelSet:
    """digits (8 kHz recognizer) and kathleen (22.05 kHz voice), loaded once for every server test."""
    return ModelSet.load(["digits"], ["kathleen"])


@pytest.fixture(scope="session")
def make_client(served_models):
    """``with make_client(**settings) as client:`` an in-process client of a fresh app over the shared models."""
    @contextmanager
    def make(**settings):
        with TestClient(create_app(served_models, ServeSettings(**settings)), raise_server_exceptions=False) as c:
            yield c
    return make


@pytest.fixture()
def client(make_client):
    with make_client() as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(models: ModelSet, settings: ServeSettings | None = None):
    """A real uvicorn server on 127.0.0.1 in a thread; yields its base URL, stops it afterwards."""
    port = free_port()
    config = uvicorn.Config(create_app(models, settings or ServeSettings()), host="127.0.0.1", port=port,
                            log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def live_server(served_models):
    """Base URL of a real server (default settings) for the module's tests."""
    with running_server(served_models) as url:
        yield url


@pytest.fixture(scope="session")
def fsdd_clips(data_root):
    """Ten FSDD test clips, one per digit: [(path, digit word)] (the recipe's test split: takes 0-4)."""
    words = "zero one two three four five six seven eight nine".split()
    rec = data_root / "fsdd" / "recordings"
    clips = [(rec / f"{d}_jackson_{k}.wav", words[d]) for d, k in zip(range(10), (1, 2, 3, 4, 0, 1, 2, 3, 4, 0))]
    missing = [str(p) for p, _ in clips if not p.is_file()]
    assert not missing, f"FSDD clips missing: {missing}"
    return clips


def wav_bytes(wav: np.ndarray, sr: int, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wav, sr, format=fmt, subtype="PCM_16")
    return buf.getvalue()
