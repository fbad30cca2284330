"""``speech serve`` from the command line: it starts and answers, and its usage errors are one line."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from speech.cli.main import main
from tests.serve.conftest import free_port


def test_the_command_serves_the_named_models_on_loopback():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "speech.cli.main", "serve", "--asr", "digits", "--tts", "none",
                             "--port", str(port), "--threads", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "speech serve did not answer within 120 s"
                time.sleep(0.2)
        assert [m["id"] for m in r.json()["data"]] == ["digits"]
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "transcription  digits  (default)" in out
    assert f"page: http://127.0.0.1:{port}/" in out
    assert "Traceback" not in err


def test_a_port_in_use_is_one_line(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--asr", "digits", "--tts", "none", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"speech: error: --host 127.0.0.1 --port {port}: the address is in use; pick another with --port"


@pytest.mark.parametrize("argv,message", [
    (["--asr", "none", "--tts", "none"], "nothing to serve: give at least one recognizer (--asr) or voice (--tts)"),
    (["--asr", "digitz", "--tts", "none"], "digitz: no such model package folder and no bundled model of that name"),
    (["--max-batch", "0"], "argument --max-batch: '0': expected an integer >= 1"),
    (["--api-key", "two words"], "--api-key: expected a key without spaces"),
])
def test_bad_options_are_one_line(argv, message, capsys):
    assert main(["serve", "--port", str(free_port()), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
