"""``speech serve --runtime onnx``: the server runs ONNX exports without torch (a runtime-only install
plus the serve extra), answering as the torch models do."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from speech.export.api import export_model
from speech.export.voice import export_voice

pytest.importorskip("onnxruntime")
BLOCK = "import sys; sys.modules['torch'] = None; sys.modules['numba'] = None; sys.modules['omegaconf'] = None; "


@pytest.fixture(scope="module")
def exports(tiny_voice, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-onnx")
    digits = export_model("digits", root / "digits").path
    voice = export_voice(tiny_voice, root / "voice", int8=False, opset=17, measure=False).path
    return digits, voice


@pytest.mark.data
def test_onnx_exports_are_served_without_torch(exports, fsdd_clips):
    digits, voice = exports
    clip, word = fsdd_clips[2]
    script = BLOCK + f"""
import json
from fastapi.testclient import TestClient
from speech.serve.app import create_app
from speech.serve.models import ModelSet
models = ModelSet.load([{str(digits)!r}], [{str(voice)!r}], runtime="onnx", threads=1)
with TestClient(create_app(models)) as c:
    ids = [m["id"] for m in c.get("/v1/models").json()["data"]]
    t = c.post("/v1/audio/transcriptions", files={{"file": ("c.wav", open({str(clip)!r}, "rb").read())}},
               data={{"response_format": "verbose_json"}})
    s = c.post("/v1/audio/speech", json={{"input": "Hello there.", "response_format": "wav"}})
print(json.dumps({{"ids": ids, "status": [t.status_code, s.status_code], "text": t.json()["text"],
                  "words": len(t.json()["words"]), "type": s.headers["content-type"],
                  "torch": "torch" in sys.modules and sys.modules["torch"] is not None}}))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"ids": ["digits", "voice"], "status": [200, 200], "text": word, "words": 1, "type": "audio/wav",
                   "torch": False}
