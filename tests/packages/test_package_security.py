"""A model package is data from a stranger: loading one may build only the toolkit's own model and
feature classes (an explicit allow-list), never run a command or write a file, and every refusal is
one line naming the file and the key. Attacks from issue 12 and variants, then a fuzzer."""
from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from package_helpers import Evil as _Evil
from package_helpers import clone as _clone
from package_helpers import legacy as _legacy
from package_helpers import one_line as _one_line

from speech.packages.asr import load_asr_package
from speech.packages.format import PackageError
from speech.packages.voice import load_tts_package
from speech.packages.weights import read_weights

DANGEROUS = [
    "speech.fileio.atomic_write_text", "speech.fileio.atomic_write_bytes", "speech.fileio.os.system",
    "speech.audio.io.subprocess.getoutput", "speech.audio.io.subprocess.run", "os.system", "os.remove",
    "builtins.eval", "builtins.exec", "builtins.open", "subprocess.run", "subprocess.Popen", "posix.system",
    "shutil.rmtree", "torch.load", "torch.save", "pickle.loads", "speech.models.asr.BiLSTMCTC",
    "speech.models.asr.bilstm.bilstm_ctc", "speech.config.instantiate", "hydra.utils.instantiate",
    "speech.models.tts.fastspeech2", "speech.features.SpecAugmentConfig",
]


def _edit(pkg: Path, change) -> Path:
    """Apply ``change(cfg_dict)`` to a package's config.yaml (plain YAML round trip)."""
    cfg = yaml.safe_load((pkg / "config.yaml").read_text())
    change(cfg)
    (pkg / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return pkg


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


class Sentinels:
    """Record (never perform) any call to a process launcher or the toolkit's file writers."""

    def __init__(self):
        self.calls: list[str] = []

    def __enter__(self):
        self._stack = ExitStack()
        import speech.fileio

        for owner, name in [(os, "system"), (os, "popen"), (subprocess, "Popen"), (os, "execv"), (os, "execve"),
                            (speech.fileio, "atomic_write_text"), (speech.fileio, "atomic_write_bytes")]:
            self._stack.enter_context(mock.patch.object(owner, name, side_effect=self._record(name)))
        return self

    def _record(self, name):
        def call(*args, **kwargs):
            self.calls.append(f"{name}{args}")
        return call

    def __exit__(self, *exc):
        self._stack.close()
        return False


# ----------------------------------------------------------------------------------------------
# The attacks of issue 12 and variants, on a real (tiny, untrained) ASR package


def _set(path: str, value):
    def change(cfg):
        node = cfg
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return change


def _asr_attacks(victim: Path):
    cmd = f"touch {victim}"
    return {
        "atomic_write_text with _args_": _set("model.asr", {"_target_": "speech.fileio.atomic_write_text",
                                                            "_args_": [str(victim), "pwned"]}),
        "speech.fileio.os.system": _set("model.asr", {"_target_": "speech.fileio.os.system", "_args_": [cmd]}),
        "speech.audio.io.subprocess.getoutput": _set("model.asr", {
            "_target_": "speech.audio.io.subprocess.getoutput", "_args_": [cmd]}),
        "builtins.eval": _set("model.asr", {"_target_": "builtins.eval",
                                            "_args_": [f"open({str(victim)!r}, 'w')"]}),
        "os.system": _set("model.asr", {"_target_": "os.system", "_args_": [cmd]}),
        "subprocess.run": _set("model.asr", {"_target_": "subprocess.run", "_args_": [["touch", str(victim)]]}),
        "toolkit class not on the list": _set("model.asr._target_", "speech.models.asr.BiLSTMCTC"),
        "the factory under another module path": _set("model.asr._target_", "speech.models.asr.bilstm.bilstm_ctc"),
        "nested _target_ in a field": _set("model.asr.hidden_size", {"_target_": "os.system", "_args_": [cmd]}),
        "nested _target_ in a list": _set("model.asr.subsample", [{"_target_": "os.system", "_args_": [cmd]}]),
        "_args_ beside the allowed target": _set("model.asr._args_", [80, 10]),
        "_partial_": _set("model.asr._partial_", True),
        "_recursive_": _set("model.asr._recursive_", False),
        "_convert_": _set("model.asr._convert_", "all"),
        "oc.env interpolation": _set("model.asr.hidden_size", "${oc.env:HOME}"),
        "custom resolver": _set("model.asr.cell", f"${{shell:{cmd}}}"),
        "interpolation to another node": _set("model.asr.dropout", "${trainer.lr}"),
        "the node is an interpolation": _set("model.asr", "${trainer}"),
        "the node is a list": _set("model.asr", ["speech.models.asr.bilstm_ctc"]),
        "runtime argument set by the package": _set("model.asr.vocab_size", 3),
        "unknown field": _set("model.asr.hiden_size", 16),
        "_target_ in features.fbank": _set("features.fbank._target_", "speech.fileio.atomic_write_text"),
        "_args_ in features.fbank": _set("features.fbank._args_", [str(victim), "pwned"]),
        "nested _target_ in features.fbank": _set("features.fbank.n_fft", {"_target_": "os.system",
                                                                           "_args_": [cmd]}),
        "missing value": _set("features.fbank.n_mels", "???"),
    }


ATTACKS = list(_asr_attacks(Path("/x")))


@pytest.mark.parametrize("name", ATTACKS)
def test_asr_package_attacks_are_refused_in_one_line(name, tiny_package, tmp_path):
    victim = tmp_path / "victim"
    pkg = _edit(_clone(tiny_package, tmp_path / "pkg"), _asr_attacks(victim)[name])
    before = _files(tmp_path)
    with Sentinels() as s, pytest.raises(PackageError) as err:
        load_asr_package(pkg)
    msg = _one_line(err.value)
    assert str(pkg / "config.yaml") in msg
    assert not victim.exists() and _files(tmp_path) == before and s.calls == []


def test_refusals_name_the_key_the_line_and_the_allow_list(tiny_package, tmp_path):
    pkg = _edit(_clone(tiny_package, tmp_path / "pkg"), _set("model.asr", {
        "_target_": "speech.fileio.atomic_write_text", "_args_": [str(tmp_path / "v"), "x"]}))
    with pytest.raises(PackageError) as err:
        load_asr_package(pkg)
    line = next(i + 1 for i, t in enumerate((pkg / "config.yaml").read_text().splitlines())
                if "atomic_write_text" in t)
    assert str(err.value) == (
        f"{pkg / 'config.yaml'}:{line}: model.asr._target_: 'speech.fileio.atomic_write_text' is not a model "
        "class a package may name; allowed: speech.models.asr.bilstm_ctc")
    pkg = _edit(_clone(tiny_package, tmp_path / "pkg2"), _set("model.asr._partial_", True))
    with pytest.raises(PackageError, match=r"model\.asr\._partial_: Hydra's _partial_ is not allowed"):
        load_asr_package(pkg)
    pkg = _edit(_clone(tiny_package, tmp_path / "pkg3"), _set("model.asr.hidden_size", "${oc.env:HOME}"))
    with pytest.raises(PackageError, match=r"model\.asr\.hidden_size: interpolation '\$\{oc.env:HOME\}'"):
        load_asr_package(pkg)
    pkg = _edit(_clone(tiny_package, tmp_path / "pkg4"), _set("model.asr.hiden_size", 16))
    with pytest.raises(PackageError, match=r"model\.asr\.hiden_size: unknown field .*hidden_size"):
        load_asr_package(pkg)


def test_other_sections_are_never_built(tiny_package, tmp_path):
    """trainer, loss, data, decoding are data: a hostile target there is inert, and the package loads."""
    victim = tmp_path / "victim"
    pkg = _clone(tiny_package, tmp_path / "pkg")
    _edit(pkg, _set("trainer", {"_target_": "os.system", "_args_": [f"touch {victim}"]}))
    _edit(pkg, _set("loss", {"_target_": "speech.fileio.atomic_write_text", "_args_": [str(victim), "x"]}))
    _edit(pkg, _set("decoding", {"_target_": "builtins.eval", "_args_": [f"open({str(victim)!r}, 'w')"]}))
    with Sentinels() as s:
        loaded = load_asr_package(pkg)
    assert type(loaded.model).__name__ == "BiLSTMCTC"
    assert not victim.exists() and s.calls == []


def test_yaml_python_tags_are_refused(tiny_package, tmp_path):
    from omegaconf import OmegaConf

    victim = tmp_path / "victim"
    tagged = f"a: !!python/object/apply:os.system ['touch {victim}']\n"
    (tmp_path / "t.yaml").write_text(tagged)
    with pytest.raises(yaml.constructor.ConstructorError):  # OmegaConf's own loader is a safe one ...
        OmegaConf.load(tmp_path / "t.yaml")
    assert not victim.exists()
    for text in (f"model:\n  asr: !!python/object/apply:os.system ['touch {victim}']\n",
                 "model:\n  asr: !!python/name:os.system\n",
                 "model:\n  asr:\n    hidden_size: !!binary aGVsbG8=\n"):
        pkg = _clone(tiny_package, tmp_path / f"pkg{len(list(tmp_path.iterdir()))}")
        (pkg / "config.yaml").write_text((pkg / "config.yaml").read_text() + text.replace("model:\n", "extra:\n"))
        with pytest.raises(PackageError) as err:  # ... and the package reader refuses any tag first
            load_asr_package(pkg)
        assert "YAML tag" in _one_line(err.value) and f"{pkg / 'config.yaml'}:" in str(err.value)
    assert not victim.exists()


def test_yaml_aliases_and_huge_configs_are_refused(tiny_package, tmp_path):
    pkg = _clone(tiny_package, tmp_path / "pkg")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    (pkg / "config.yaml").write_text((pkg / "config.yaml").read_text() + bomb)
    with pytest.raises(PackageError, match="YAML alias"):
        load_asr_package(pkg)
    (pkg / "config.yaml").write_text("a: " + "x" * (2 << 20) + "\n")
    with pytest.raises(PackageError, match="at most"):
        load_asr_package(pkg)
    (pkg / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(PackageError, match="expected a mapping"):
        load_asr_package(pkg)


# ----------------------------------------------------------------------------------------------
# model.pt (packages of format version 1; new packages hold model.safetensors, see test_package_weights.py)


def _weights_cases(pkg: Path, victim: Path) -> dict[str, tuple]:
    good = (pkg / "model.pt").read_bytes()
    state = torch.load(pkg / "model.pt", weights_only=True)
    return {
        "pickle that runs a command": (lambda p: torch.save({**state, "x": _Evil(victim)}, p),
                                       "unpickling refused"),
        "plain pickle": (lambda p: p.write_bytes(__import__("pickle").dumps(_Evil(victim), protocol=2)),
                         "not a weights file"),
        "truncated": (lambda p: p.write_bytes(good[: len(good) // 2]), "truncated or corrupt"),
        "empty": (lambda p: p.write_bytes(b""), "empty file"),
        "garbage": (lambda p: p.write_bytes(b"garbage"), "not a weights file"),
        "non-tensor values": (lambda p: torch.save({**state, "meta": "hello"}, p), "'meta' is a str, not a tensor"),
        "a list": (lambda p: torch.save(list(state.values()), p), "holds a list"),
        "other shapes": (lambda p: torch.save({k: v[..., :1] if v.dim() else v for k, v in state.items()}, p),
                         "do not fit"),
        "missing keys": (lambda p: torch.save(dict(list(state.items())[:2]), p), "missing"),
    }


@pytest.mark.parametrize("case", [
    "pickle that runs a command", "plain pickle", "truncated", "empty", "garbage", "non-tensor values", "a list",
    "other shapes", "missing keys"])
def test_bad_weights_are_refused_in_one_line(case, tiny_package, tmp_path):
    victim = tmp_path / "victim"
    pkg = _legacy(_clone(tiny_package, tmp_path / "pkg"))
    write, expected = _weights_cases(pkg, victim)[case]
    write(pkg / "model.pt")
    with Sentinels() as s, pytest.raises(PackageError) as err:
        load_asr_package(pkg)
    msg = _one_line(err.value)
    assert msg.startswith(f"{pkg / 'model.pt'}: ") and expected in msg, msg
    assert not victim.exists() and s.calls == []


def test_read_weights_refuses_pickles_without_running_them(tmp_path):
    victim = tmp_path / "victim"
    torch.save({"w": torch.zeros(2), "x": _Evil(victim)}, tmp_path / "evil.pt")
    with pytest.raises(PackageError, match=r"unpickling refused.*system") as err:
        read_weights(tmp_path / "evil.pt")
    _one_line(err.value)
    assert not victim.exists()
    torch.save({"w": torch.zeros(2)}, tmp_path / "ok.pt")
    assert set(read_weights(tmp_path / "ok.pt")) == {"w"}


def test_g2p_weights_error_never_passes_on_torch_advice(tmp_path):
    from speech.text.g2p import load_g2p_model

    victim = tmp_path / "victim"
    torch.save({"format": "speech-g2p-ctc", "x": _Evil(victim)}, tmp_path / "evil.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for name, expected in (("evil.pt", "unpickling refused"), ("junk.pt", "not a torch zip archive")):
        with pytest.raises(ValueError, match=expected) as err:
            load_g2p_model(tmp_path / name)
        _one_line(err.value)
    assert not victim.exists()


# ----------------------------------------------------------------------------------------------
# Through the command line


def test_cli_transcribe_refuses_a_hostile_package(tiny_package, tmp_path, capsys):
    from speech.cli.main import main

    victim = tmp_path / "victim"
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(4000, np.float32), 8000)
    for i, change in enumerate([
            _set("model.asr", {"_target_": "speech.fileio.atomic_write_text", "_args_": [str(victim), "x"]}),
            _set("model.asr", {"_target_": "speech.fileio.os.system", "_args_": [f"touch {victim}"]})]):
        pkg = _edit(_clone(tiny_package, tmp_path / f"pkg{i}"), change)
        before = _files(tmp_path)
        rc = main(["transcribe", str(wav), "--model", str(pkg)])
        cap = capsys.readouterr()
        lines = cap.err.strip().splitlines()
        assert rc != 0 and cap.out == ""
        assert len(lines) == 1 and lines[0].startswith("speech: error:") and "config.yaml" in lines[0], cap.err
        assert not victim.exists() and _files(tmp_path) == before
    for name, legacy in (("model.pt", True), ("model.safetensors", False)):
        pkg = _clone(tiny_package, tmp_path / f"pkg-w-{name}")
        if legacy:
            _legacy(pkg)
        torch.save({"x": _Evil(victim)}, pkg / name)
        rc = main(["transcribe", str(wav), "--model", str(pkg)])
        cap = capsys.readouterr()
        lines = cap.err.strip().splitlines()
        assert rc != 0 and len(lines) == 1 and name in lines[0] and "weights_only" not in cap.err, cap.err
        assert not victim.exists()


# ----------------------------------------------------------------------------------------------
# Voice and vocoder packages


@pytest.fixture(scope="module")
def voice(tiny_voice) -> Path:
    return tiny_voice


@pytest.fixture(scope="module")
def vocoder(tiny_vocoder) -> Path:
    return tiny_vocoder


def test_voice_and_vocoder_packages_still_load(voice, vocoder):
    from speech.packages.vocoder import HiFiGANVocoder, read_vocoder_config

    assert type(load_tts_package(voice).model).__name__ == "FastSpeech2"
    assert read_vocoder_config(vocoder) == ("v3", {"upsample_initial_channel": 8})
    assert HiFiGANVocoder.from_package(vocoder).sample_rate == 22050


def test_voice_package_attacks_are_refused(voice, tmp_path):
    victim = tmp_path / "victim"
    cmd = f"touch {victim}"
    for i, change in enumerate([
            _set("model.tts", {"_target_": "speech.fileio.atomic_write_text", "_args_": [str(victim), "x"]}),
            _set("model.tts._target_", "speech.models.asr.bilstm_ctc"),
            _set("model.tts._args_", [3, 80]),
            _set("model.tts.hidden_size", {"_target_": "os.system", "_args_": [cmd]}),
            _set("model.tts.dropout", "${oc.env:HOME}"),
            _set("model.tts.n_mels", 80),
            _set("features.fbank._target_", "os.system")]):
        pkg = _edit(_clone(voice, tmp_path / f"v{i}"), change)
        with Sentinels() as s, pytest.raises(PackageError) as err:
            load_tts_package(pkg)
        assert str(pkg / "config.yaml") in _one_line(err.value)
        assert not victim.exists() and s.calls == []


def test_vocoder_package_attacks_are_refused(vocoder, tmp_path):
    from speech.packages.vocoder import HiFiGANVocoder, read_vocoder_config

    victim = tmp_path / "victim"
    for i, change in enumerate([
            _set("vocoder.generator._target_", "os.system"),
            _set("vocoder.generator._args_", [f"touch {victim}"]),
            _set("vocoder.generator.preset", "${oc.env:HOME}"),
            _set("vocoder.generator.hop_length", 128),
            _set("vocoder.generator.upsample_rates", [{"_target_": "os.system"}]),
            _set("vocoder.kind", "os.system"),
            _set("features.fbank._target_", "speech.fileio.atomic_write_text")]):
        pkg = _edit(_clone(vocoder, tmp_path / f"g{i}"), change)
        for load in (HiFiGANVocoder.from_package, read_vocoder_config):
            with Sentinels() as s, pytest.raises(PackageError) as err:
                load(pkg)
            assert str(pkg / "config.yaml") in _one_line(err.value)
            assert not victim.exists() and s.calls == []


# ----------------------------------------------------------------------------------------------
# Fuzzing: random hostile edits of a valid package config


_PATHS = ["model.asr", "features.fbank", "model.asr.subsample", "model", "features", "trainer", ""]
_KEYS = ["_target_", "_args_", "_partial_", "_recursive_", "_convert_", "hidden_size", "dropout", "cell",
         "input_dim", "sample_rate", "n_fft", "bogus"]


def _values(victim: str):
    cmd = f"touch {victim}"
    scalars = st.one_of(st.sampled_from(DANGEROUS), st.just("speech.models.asr.bilstm_ctc"),
                        st.just("speech.features.FbankConfig"),
                        st.sampled_from(["${oc.env:HOME}", f"${{shell:{cmd}}}", "${model.asr.hidden_size}", "???",
                                         cmd, victim, "lstm"]),
                        st.integers(0, 32), st.booleans(), st.none(), st.floats(0, 1))
    return st.one_of(scalars, st.lists(scalars, max_size=3),
                     st.builds(lambda t, a: {"_target_": t, "_args_": a}, st.sampled_from(DANGEROUS),
                               st.just([cmd])),
                     st.dictionaries(st.sampled_from(_KEYS), scalars, max_size=2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzzed_configs_build_the_listed_classes_or_fail_in_one_line(tiny_package, data):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        victim = str(tmp / "victim")
        pkg = _clone(tiny_package, tmp / "pkg")
        cfg = yaml.safe_load((pkg / "config.yaml").read_text())
        for _ in range(data.draw(st.integers(1, 3), "edits")):
            path = data.draw(st.sampled_from(_PATHS), "path")
            node = cfg
            for part in filter(None, path.split(".")):
                node = node[part] if isinstance(node, dict) and part in node else None
            value = data.draw(_values(victim), "value")
            if isinstance(node, dict):
                node[data.draw(st.sampled_from(_KEYS), "key")] = value
            elif isinstance(node, list):
                node.append(value)
        (pkg / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        before = _files(tmp)
        with Sentinels() as s:
            try:
                loaded = load_asr_package(pkg)
            except PackageError as e:
                _one_line(e)
            else:
                from speech.features import FbankConfig
                from speech.models.asr import BiLSTMCTC

                assert isinstance(loaded.model, BiLSTMCTC) and isinstance(loaded.fbank, FbankConfig)
        assert s.calls == [] and _files(tmp) == before and not Path(victim).exists()


@pytest.mark.parametrize("weights", ["model.safetensors", "model.pt"])
def test_a_config_far_larger_than_its_weights_is_refused_before_allocating(weights, tiny_package, tmp_path):
    """A package's config.yaml could ask for a model of many gigabytes beside a small weights file:
    the model is first built on torch's meta device (no memory) and checked against the weights
    (for model.safetensors, against its header alone)."""
    import resource

    huge = _edit(_clone(tiny_package, tmp_path / "huge"),
                 lambda c: c["model"]["asr"].update(hidden_size=40000))  # ~13 G parameters, ~50 GB
    if weights == "model.pt":
        _legacy(huge)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PackageError) as ei:
        load_asr_package(huge)
    msg = _one_line(ei.value)
    assert weights in msg and "do not fit" in msg, msg
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500 * 1024  # KB: nothing big allocated
