"""Commands that need no model answer without importing torch (or numba): a subprocess in which
``import torch`` fails runs them and must still succeed."""
from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = "import sys; sys.modules['torch'] = None; sys.modules['numba'] = None; "


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["models"], ["models", "--json"],
                                  ["synthesize", "--list-voices"], ["transcribe", "--help"],
                                  ["synthesize", "--help"]])
def test_command_runs_without_torch(argv):
    r = _run(f"from speech.cli.main import main; raise SystemExit(main({argv!r}))")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and r.stdout.strip()


def test_text_front_end_imports_without_torch():
    r = _run("import speech.text.frontend, speech.text.tts_normalize, speech.text.lexicon; "
             "from speech.text.lexicon import cmu_dict; print(cmu_dict()['hello'][0])")
    assert r.returncode == 0, r.stderr
    assert "HH" in r.stdout
