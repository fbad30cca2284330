"""The models that ship inside the package: present, small, named, and still measuring what their cards say.

Each card's numbers (``meta.json`` ``bundled.metrics``, written by ``recipes/<name>/run.py
--export-bundled``) are measured again here on the same held-out data with the shipped (float16)
weights; the tolerances are the issue's: digits WER within 0.5 points, AN4 WER within 1 point,
the voice's recognizer WER within 3 points, G2P word error within 2 points. Inference is
deterministic, so a model that reproduced its card once reproduces it on every machine.
"""
from __future__ import annotations

import json
import re

import pytest

from speech.packages.registry import DEFAULT_VOICE, list_models, resolve_model
from speech.pretrained import PRETRAINED_DIR

EXPECTED = {"digits": "asr", "an4": "asr", DEFAULT_VOICE: "tts", "g2p": "g2p"}
BUDGET_MB = 40.0


def _bundled(name: str) -> dict:
    return json.loads((PRETRAINED_DIR / name / "meta.json").read_text())["bundled"]


def test_every_expected_model_is_bundled_and_named():
    found = {m.name: m.task for m in list_models()}
    assert found == EXPECTED
    for name in EXPECTED:
        assert resolve_model(name) == PRETRAINED_DIR / name


def test_bundle_fits_the_size_budget_and_is_half_precision():
    from safetensors import safe_open

    total = sum(f.stat().st_size for f in PRETRAINED_DIR.rglob("*") if f.is_file())
    assert total <= BUDGET_MB * 1e6, f"bundled models take {total / 1e6:.1f} MB; budget {BUDGET_MB} MB"
    for name in EXPECTED:
        with safe_open(str(PRETRAINED_DIR / name / "model.safetensors"), framework="pt") as f:
            dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        assert "F16" in dtypes, f"{name}: no float16 weights"
        assert _bundled(name)["precision"] == "float16"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_model_has_a_complete_card(name):
    card = (PRETRAINED_DIR / name / "card.md").read_text()
    for field in ("training data", "data licence", "made by", "training", "machine", "size"):
        assert f"| {field} | " in card, f"{name}/card.md lacks '{field}'"
    assert "## Measured" in card and "python recipes/" in card and "--export-bundled" in card
    assert re.search(r"\| [^|]+ \| [\d.]+ ?(%|dB|Hz)? \| [\d.]+ ?(%|dB|Hz)? \|", card), "no measured row"
    b = _bundled(name)
    assert b["numbers"] and b["metrics"], f"{name}: meta.json has no headline numbers"


def test_no_pickle_in_the_bundle():
    for f in PRETRAINED_DIR.rglob("*"):
        if f.is_file():
            head = f.read_bytes()[:4]
            assert not head.startswith(b"\x80") and head != b"PK\x03\x04", f"{f}: pickle or zip archive"


# ------------------------------------------------------------------------------ reproduce the cards
@pytest.mark.slow
@pytest.mark.data
def test_digits_reproduces_its_card(data_root, tmp_path):
    from speech.data.prepare import prepare
    from speech.pipelines.evaluate_asr import evaluate_manifest

    splits = prepare("fsdd", data_root / "fsdd", tmp_path)
    rep = evaluate_manifest("digits", splits["test"], batch_size=32, progress=False)
    card = _bundled("digits")["metrics"]
    assert rep.utterances == card["utterances"]
    assert abs(rep.wer - card["wer"]) <= 0.005, (rep.wer, card["wer"])


@pytest.mark.slow
@pytest.mark.data
def test_an4_reproduces_its_card_with_its_own_lm(data_root, tmp_path):
    from speech.data.prepare import prepare
    from speech.pipelines.evaluate_asr import evaluate_manifest
    from speech.pipelines.transcriber import Transcriber

    splits = prepare("an4", data_root / "an4", tmp_path)
    tr = Transcriber("an4")  # no decoding given: the package's own LM beam search
    assert tr.decoding is not None and tr.decoding.lm.endswith("lm.arpa")
    rep = evaluate_manifest(tr, splits["test"], progress=False)
    card = _bundled("an4")["metrics"]
    assert rep.utterances == card["utterances"]
    assert abs(rep.wer - card["wer"]) <= 0.01, (rep.wer, card["wer"])


def test_g2p_is_found_without_any_setup(monkeypatch, tmp_path):
    import speech.text.g2p as g2p_mod

    monkeypatch.delenv("SPEECH_G2P_MODEL", raising=False)
    monkeypatch.delenv("SPEECH_PRETRAINED_DIR", raising=False)
    monkeypatch.setattr(g2p_mod, "DEFAULT_MODEL_PATH", tmp_path / "none.pt")  # no model in ~/.cache
    assert g2p_mod.auto_model_path() == PRETRAINED_DIR / "g2p"
    phones, source = g2p_mod.G2P().lookup("zyxomma")  # not in CMUdict
    assert source == "neural" and phones


def test_g2p_reproduces_its_card():
    from speech.text.g2p import G2P, cmudict_split, evaluate_g2p

    card = _bundled("g2p")["metrics"]
    g2p = G2P(PRETRAINED_DIR / "g2p")
    _, test = cmudict_split(card["seed"])
    m = evaluate_g2p(g2p.model.predict, test)
    assert m["words"] == card["words"]
    assert abs(m["wer"] - card["wer"]) <= 0.02, (m["wer"], card["wer"])


@pytest.mark.slow
@pytest.mark.data
def test_voice_reproduces_its_card(data_root):
    """The card's synthesized-speech WER (``speech evaluate-tts``'s ``wer_synth``), measured the same way:
    every held-out prompt synthesized by the Synthesizer evaluate-tts uses, read by a fresh PocketSphinx
    decoder, corpus WER after normalization (the MCD / F0 part of evaluate-tts is not repeated)."""
    pytest.importorskip("pocketsphinx", reason="needs the eval extra: pip install 'speech[eval]'")
    from speech.data.prepare.tts_corpus import read_tts_corpus
    from speech.pipelines.evaluate_tts import PocketSphinxRecognizer, recognizer_wer
    from speech.pipelines.synthesizer import Synthesizer

    card = _bundled(DEFAULT_VOICE)["metrics"]
    synth = Synthesizer(DEFAULT_VOICE)
    held_out = set(synth.package.meta["test_ids"])
    utts = [u for u in read_tts_corpus(data_root / "kathleen") if u.id in held_out]
    assert len(utts) == card["utterances"]
    asr = PocketSphinxRecognizer()
    hyps = [asr.transcribe(synth.synthesize(u.text).wav, synth.sample_rate) for u in utts]
    wer = recognizer_wer([u.text for u in utts], hyps)
    assert abs(wer - card["wer_synth"]) <= 0.03, (wer, card["wer_synth"])
