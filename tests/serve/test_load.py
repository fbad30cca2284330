"""A small run of the load benchmark (bench/serve_load.py) against a live server: under concurrent
recognition and synthesis every request succeeds, and batched answers equal one-at-a-time answers.
The full run, with its numbers, is ``python bench/serve_load.py`` (bench/README.md)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serve_load.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("serve_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.data
@pytest.mark.slow
def test_concurrent_clients_all_succeed_and_match_one_at_a_time(bench, live_server, data_root):
    clips = bench.fsdd_test_clips(data_root)[::10]  # 30 clips, every digit and speaker
    r = bench.run_load(live_server, "digits", clips, asr_clients=8, tts_clients=2, max_asr=60, max_tts=4,
                       max_seconds=300)
    assert r["asr"]["status"] == {200: 60} and r["tts"]["status"] == {200: 4}
    texts = r["asr"]["texts"]
    assert sorted(texts) == list(range(len(clips)))
    assert bench.one_by_one(live_server, "digits", clips, sorted(texts)) == texts
