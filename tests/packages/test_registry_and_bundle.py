"""Models by name (speech.packages.registry) and bundling (speech.packages.bundle): a stand-in set of
bundled models in a temporary $SPEECH_PRETRAINED_DIR, made from the session's tiny packages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from speech.cli.main import main
from speech.decoding.lm import build_lm
from speech.packages.asr import load_asr_package
from speech.packages.bundle import bundle_package, half_state
from speech.packages.format import PackageError
from speech.packages.registry import list_models, resolve_model
from speech.packages.voice import load_tts_package
from speech.pipelines.transcriber import Transcriber, decoding_config


@pytest.fixture
def shelf(tmp_path, monkeypatch, tiny_package, tiny_voice):
    """$SPEECH_PRETRAINED_DIR with a recognizer 'digits' (and its LM) and a voice 'kathleen'."""
    root = tmp_path / "pretrained"
    text = tmp_path / "lm.txt"
    text.write_text("zero one\none two\ntwo three\n")
    build_lm(text, tmp_path / "lm.arpa", order=2, normalize=False)
    bundle_package(tiny_package, "digits", task="asr", domain="digits", summary="s", numbers={"WER": "1%"},
                   metrics={"wer": 0.01}, card="# digits\n", root=root,
                   decoding={"decoding": "beam", "beam_size": 4, "lm": "lm.arpa", "lm_weight": 0.5},
                   extra_files={"lm.arpa": tmp_path / "lm.arpa"})
    bundle_package(tiny_voice, "kathleen", task="tts", domain="a voice", summary="s", numbers={}, card="# v\n",
                   root=root)
    (root / "junk").mkdir()  # a folder that is no bundled model is not listed
    monkeypatch.setenv("SPEECH_PRETRAINED_DIR", str(root))
    return root


def test_half_state_halves_matrices_only():
    state = {"w": torch.randn(64, 64), "b": torch.randn(64), "n": torch.tensor([3]), "h": torch.randn(40, 40).half()}
    out = half_state(state)
    assert out["w"].dtype == torch.float16 and torch.allclose(out["w"].float(), state["w"], atol=1e-2)
    assert out["b"].dtype == torch.float32 and out["n"].dtype == torch.int64 and out["h"].dtype == torch.float16
    with pytest.raises(ValueError, match="big: values up to .* do not fit in float16"):
        half_state({"big": torch.full((32, 32), 1e6)})


def test_names_resolve_and_list(shelf, tmp_path, monkeypatch):
    assert [(m.name, m.task) for m in list_models()] == [("digits", "asr"), ("kathleen", "tts")]
    assert resolve_model("digits") == shelf / "digits"
    assert list_models("tts")[0].default and list_models("asr")[0].numbers == {"WER": "1%"}
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()  # a folder the user has wins over the name
    assert resolve_model("digits").resolve() == tmp_path / "digits"
    for bad in ("../digits", "./x", "/nope/x", ".hidden"):
        assert str(resolve_model(bad)) == str(Path(bad))  # a path, not a name: the loader says not found


def test_unknown_name_lists_the_known_ones(shelf):
    with pytest.raises(PackageError) as e:
        load_asr_package("digitz")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("digitz: no such model package folder")
    assert "bundled recognizers: digits" in msg and "kathleen" in msg


def test_bundled_models_load_by_name_and_match_their_source(shelf, tiny_package, tiny_voice):
    src, half = load_asr_package(tiny_package), load_asr_package("digits")
    x, lens = torch.randn(1, 50, 80), torch.tensor([50])
    a, _ = src.model(x, lens)
    b, _ = half.model(x, lens)
    assert next(half.model.parameters()).dtype == torch.float32  # stored float16, computed float32
    assert torch.allclose(a, b, atol=2e-2)
    assert load_tts_package("kathleen").path == shelf / "kathleen"


def test_package_recommended_decoding_is_used_unless_overridden(shelf):
    tr = Transcriber("digits")
    assert tr.decoding.beam_size == 4 and tr.decoding.lm == str(shelf / "digits" / "lm.arpa")
    tr = Transcriber("digits", decoding=decoding_config(["decoding=greedy"]))
    assert "Greedy" in tr.decoding._target_


@pytest.mark.parametrize("entry, fragment", [
    ({"lm": "../lm.arpa"}, "decoding.lm: '../lm.arpa'; expected the name of a file in the package"),
    ({"lm": "/etc/passwd"}, "decoding.lm: '/etc/passwd'; expected the name"),
    ({"lm": "nothing.arpa"}, "decoding.lm: 'nothing.arpa'"),
    ({"beam_size": {"_target_": "os.system"}}, "decoding.beam_size: not a setting a package may recommend"),
    ({"_target_": "os.system"}, "decoding._target_: not a setting"),
    ({"decoding": "oracle"}, "decoding.decoding: 'oracle'; expected 'greedy' or 'beam'"),
    ({"beam_size": 0}, "decoding: "),
    ("beam", "decoding: expected an object"),
])
def test_malformed_recommended_decoding_is_one_line(shelf, entry, fragment):
    meta_path = shelf / "digits" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["decoding"] = entry if not isinstance(entry, dict) else {"decoding": "beam", **entry}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(PackageError) as e:
        Transcriber("digits")
    assert fragment in str(e.value) and "\n" not in str(e.value) and str(meta_path) in str(e.value)


def test_bundle_replaces_an_old_model_whole(shelf, tiny_package):
    (shelf / "digits" / "stale.txt").write_text("from an older export")
    bundle_package(tiny_package, "digits", task="asr", domain="d", summary="", numbers={}, card="c", root=shelf)
    assert not (shelf / "digits" / "stale.txt").exists()
    assert not [p for p in shelf.iterdir() if p.name.startswith(".")]  # no partial folders left behind
    with pytest.raises(ValueError, match="not a file of the package"):
        bundle_package(tiny_package, "digits", task="asr", domain="d", summary="", numbers={}, card="c",
                       root=shelf, decoding={"lm": "missing.arpa"})
    assert (shelf / "digits" / "model.safetensors").is_file()  # the failed export left the old one in place


def test_speech_models_lists_them(shelf, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "recognizer" in out and "kathleen (default)" in out and "voice" in out
    assert "WER 1%" in out and " MB" in out
    assert main(["models", "--json", "--task", "asr"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in rows] == ["digits"] and rows[0]["path"] == str(shelf / "digits")
    assert np.isfinite(rows[0]["size_mb"]) and rows[0]["size_mb"] > 0


def test_speech_models_with_none_installed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPEECH_PRETRAINED_DIR", str(tmp_path / "empty"))
    assert main(["models"]) == 0
    assert "no bundled models are installed" in capsys.readouterr().err
