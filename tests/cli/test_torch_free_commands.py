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
                                  ["synthesize", "--help"], ["synthesize", "Hello, world.", "--phonemes"],
                                  ["synthesize", "Hello.", "--phonemes", "--model", "kathleen"]])
def test_command_runs_without_torch(argv):
    r = _run(f"from speech.cli.main import main; raise SystemExit(main({argv!r}))")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and r.stdout.strip()


def test_text_front_end_runs_without_torch():
    r = _run("from speech.text.frontend import text_to_ids; ids, info = text_to_ids('Hello, Dr. Smith: 42 birch "
             "canoes.'); print(' '.join(info.tokens))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HH AH0 L OW1 <pau_short> D AA1 K T ER0")


def test_phonemes_of_the_default_voice_match_the_synthesizer():
    from speech.pipelines.synthesizer import Synthesizer

    r = _run("from speech.cli.main import main; raise SystemExit(main(['synthesize', 'Hello, world. Bye!', "
             "'--phonemes']))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == Synthesizer("kathleen").phonemes("Hello, world. Bye!")[0]
