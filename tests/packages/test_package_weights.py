"""The weights file of a package: new packages hold ``model.safetensors`` and no pickle at all; a
package of format version 1 (``model.pt`` from ``torch.save``) still loads and computes the same;
a tampered weights file is refused in one line and never unpickled."""
from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from package_helpers import Evil as _Evil
from package_helpers import clone as _clone
from package_helpers import legacy as _legacy
from package_helpers import one_line as _one_line
from safetensors import safe_open
from safetensors.torch import load_file, save

from speech.features import tts_fbank
from speech.packages.asr import load_asr_package, save_asr_package
from speech.packages.format import PackageError, weights_path
from speech.packages.vocoder import (
    HiFiGANVocoder,
    is_vocoder_package,
    load_vocoder,
)
from speech.packages.voice import load_tts_package
from speech.packages.weights import read_weights, read_weights_header, write_weights

PICKLE_PROTO = b"\x80"  # pickle protocols 2+ start with the PROTO opcode
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's archive


def _header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _with_header(path: Path, header: dict, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


@pytest.fixture(scope="module")
def vocoder(tiny_vocoder) -> Path:
    return tiny_vocoder


# ----------------------------------------------------------------------------------------------
# (b) the new format: model.safetensors, and no pickle anywhere in the folder


@pytest.mark.parametrize("kind", ["asr", "voice", "vocoder"])
def test_new_packages_hold_safetensors_and_no_pickle(kind, tiny_package, tiny_voice, vocoder):
    pkg = {"asr": tiny_package, "voice": tiny_voice, "vocoder": vocoder}[kind]
    files = sorted(p for p in pkg.rglob("*") if p.is_file())
    assert pkg / "model.safetensors" in files and not (pkg / "model.pt").exists()
    for f in files:
        head = f.read_bytes()[:4]
        assert not head.startswith(PICKLE_PROTO) and head != ZIP_MAGIC, f"{f} looks like a pickle / torch.save"
    meta = json.loads((pkg / "meta.json").read_text())
    assert meta["format_version"] == 2
    with safe_open(str(pkg / "model.safetensors"), framework="pt") as f:
        assert f.metadata() == {"format": "pt", "package": meta["format"]}
    assert weights_path(pkg) == pkg / "model.safetensors"


def test_writing_a_package_removes_a_stale_model_pt(tiny_package, tmp_path):
    old = _legacy(_clone(tiny_package, tmp_path / "pkg"))
    loaded = load_asr_package(old)
    save_asr_package(old, loaded.config, loaded.tokenizer, loaded.model.state_dict())
    assert (old / "model.safetensors").is_file() and not (old / "model.pt").exists()


def test_tied_and_non_contiguous_tensors_are_written_as_independent_blocks(tmp_path):
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4).requires_grad_()
    state = {"w": w, "tied": w, "transposed": w.t(), "row": w[1], "step": torch.tensor(7)}
    write_weights(tmp_path / "w.safetensors", state)
    back = read_weights(tmp_path / "w.safetensors")
    assert set(back) == set(state)
    for k, v in state.items():
        assert torch.equal(back[k], v.detach()) and back[k].dtype == v.dtype, k
    assert read_weights_header(tmp_path / "w.safetensors")["transposed"] == ((4, 3), torch.float32)
    with pytest.raises(TypeError, match="'bad' is a str"):
        write_weights(tmp_path / "x.safetensors", {"bad": "not a tensor"})
    assert not (tmp_path / "x.safetensors").exists()


# ----------------------------------------------------------------------------------------------
# (a) packages of format version 1 (model.pt) still load, and compute what the new format does


def test_old_asr_package_loads_and_gives_the_same_output(tiny_package, tmp_path):
    old = _legacy(_clone(tiny_package, tmp_path / "old"))
    assert not (old / "model.safetensors").exists() and weights_path(old) == old / "model.pt"
    new_pkg, old_pkg = load_asr_package(tiny_package), load_asr_package(old)
    feats = torch.randn(2, 50, 80) - 5
    lens = torch.tensor([50, 31])
    with torch.no_grad():
        a, a_lens = new_pkg.model(feats, lens)
        b, b_lens = old_pkg.model(feats, lens)
    assert torch.equal(a, b) and torch.equal(a_lens, b_lens)
    assert not torch.equal(a, torch.zeros_like(a))


def test_old_voice_package_loads_and_gives_the_same_output(tiny_voice, tmp_path):
    old = _legacy(_clone(tiny_voice, tmp_path / "old"))
    new_pkg, old_pkg = load_tts_package(tiny_voice), load_tts_package(old)
    ids = torch.randint(1, len(new_pkg.tokenizer), (2, 9))
    lens = torch.tensor([9, 6])
    with torch.no_grad():
        a = new_pkg.model(ids, lens, durations=torch.full((2, 9), 2))
        b = old_pkg.model(ids, lens, durations=torch.full((2, 9), 2))
    assert a.mel.shape == (2, 18, 80) and torch.equal(a.mel, b.mel)
    assert torch.equal(new_pkg.mel_mean, old_pkg.mel_mean) and new_pkg.stats == old_pkg.stats


def test_old_vocoder_package_loads_and_gives_the_same_output(vocoder, tmp_path):
    old = _legacy(_clone(vocoder, tmp_path / "old"))
    assert is_vocoder_package(old) and is_vocoder_package(vocoder)
    mel = torch.randn(2, 12, 80) - 5
    a = load_vocoder(str(vocoder), tts_fbank())(mel, torch.tensor([12, 7]))
    b = load_vocoder(str(old), tts_fbank())(mel, torch.tensor([12, 7]))
    assert a.shape == (2, 12 * tts_fbank().hop_length) and torch.equal(a, b)
    assert a.abs().sum() > 0


def test_when_both_files_exist_the_safetensors_one_is_read(tiny_package, tmp_path):
    """A pickle dropped beside model.safetensors is never opened."""
    victim = tmp_path / "victim"
    pkg = _clone(tiny_package, tmp_path / "pkg")
    torch.save({"x": _Evil(victim)}, pkg / "model.pt")
    with open(pkg / "model.pt", "ab") as f:
        f.write(pickle.dumps(_Evil(victim)))
    assert type(load_asr_package(pkg).model).__name__ == "BiLSTMCTC"
    assert not victim.exists()


# ----------------------------------------------------------------------------------------------
# load_vocoder puts a HiFi-GAN on the device asked for


def test_load_vocoder_takes_a_device(vocoder):
    voc = load_vocoder(str(vocoder), tts_fbank(), device=torch.device("cpu"))
    assert isinstance(voc, HiFiGANVocoder) and voc.device == torch.device("cpu")
    assert {p.device.type for p in voc.generator.parameters()} == {"cpu"}
    gl = load_vocoder("griffin-lim", tts_fbank(), device="cpu", n_iter=2)  # runs where its input is
    assert gl.n_iter == 2
    with pytest.raises(TypeError):
        load_vocoder(str(vocoder), tts_fbank(), "cpu")  # device is keyword-only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_load_vocoder_puts_hifigan_on_the_gpu(vocoder):
    voc = load_vocoder(str(vocoder), tts_fbank(), device="cuda")
    assert {p.device.type for p in voc.generator.parameters()} == {"cuda"}
    mel = torch.randn(1, 12, 80) - 5
    wav = voc(mel)
    cpu = load_vocoder(str(vocoder), tts_fbank())(mel)
    assert wav.device.type == "cpu" and torch.allclose(wav, cpu, atol=1e-4)


# ----------------------------------------------------------------------------------------------
# (c) tampered packages


@pytest.mark.parametrize("kind", ["asr", "voice", "vocoder"])
def test_a_config_naming_os_system_is_refused(kind, tiny_package, tiny_voice, vocoder, tmp_path):
    victim = tmp_path / "victim"
    src, slot, load = {"asr": (tiny_package, ("model", "asr"), load_asr_package),
                       "voice": (tiny_voice, ("model", "tts"), load_tts_package),
                       "vocoder": (vocoder, ("vocoder", "generator"), HiFiGANVocoder.from_package)}[kind]
    pkg = _clone(src, tmp_path / "pkg")
    cfg = yaml.safe_load((pkg / "config.yaml").read_text())
    cfg[slot[0]][slot[1]] = {"_target_": "os.system", "_args_": [f"touch {victim}"]}
    (pkg / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(PackageError) as err:
        load(pkg)
    msg = _one_line(err.value)
    assert str(pkg / "config.yaml") in msg and "os.system" in msg, msg
    assert not victim.exists()


def _bad_safetensors(victim: Path) -> dict:
    """name -> (write(path, good bytes), expected words in the message)."""
    def lying_sizes(p, good):
        header, data = _header(p)
        name = next(k for k in header if k != "__metadata__" and len(header[k]["shape"]) == 2)
        header[name]["shape"] = [header[name]["shape"][0] * 4, header[name]["shape"][1]]
        _with_header(p, header, data)

    def exotic_dtype(p, good):
        header, data = _header(p)
        name = next(k for k in header if k != "__metadata__" and header[k]["dtype"] == "F32")
        header[name]["dtype"] = "U32"  # a valid safetensors dtype, but no parameter is one
        _with_header(p, header, data)

    def unknown_dtype(p, good):
        header, data = _header(p)
        name = next(k for k in header if k != "__metadata__")
        header[name]["dtype"] = "STR"
        _with_header(p, header, data)

    def other_shapes(p, good):  # a consistent file whose tensors are not the model's
        state = load_file(p)
        p.write_bytes(save({k: v[..., :1].contiguous() if v.dim() else v for k, v in state.items()}))

    def integers_for_floats(p, good):
        state = load_file(p)
        p.write_bytes(save({k: v.to(torch.int32) if v.is_floating_point() else v for k, v in state.items()}))

    return {
        "pickle with a __reduce__ that runs a command": (
            lambda p, good: p.write_bytes(pickle.dumps({"w": _Evil(victim)}, protocol=2)), "a Python pickle"),
        "torch.save archive with the same payload": (
            lambda p, good: torch.save({"w": torch.zeros(2), "x": _Evil(victim)}, p), "torch.save archive"),
        "protocol-0 pickle": (lambda p, good: p.write_bytes(pickle.dumps(_Evil(victim), protocol=0)),
                              "not a safetensors file"),
        "truncated": (lambda p, good: p.write_bytes(good[: len(good) // 2]), "truncated or corrupt"),
        "truncated header": (lambda p, good: p.write_bytes(good[:5]), "truncated"),
        "empty": (lambda p, good: p.write_bytes(b""), "empty file"),
        "garbage": (lambda p, good: p.write_bytes(b"garbage!" * 50), "not a safetensors file"),
        "header lies about sizes": (lying_sizes, "header's tensor sizes do not match"),
        "dtype no model has": (exotic_dtype, "dtype U32; expected one of BOOL"),
        "dtype safetensors does not know": (unknown_dtype, "not a valid safetensors file (invalid JSON"),
        "other shapes": (other_shapes, "do not fit"),
        "integers where floats are expected": (integers_for_floats, "other dtypes"),
    }


CASES = list(_bad_safetensors(Path("/x")))


@pytest.mark.parametrize("case", CASES)
def test_tampered_safetensors_are_refused_in_one_line(case, tiny_package, tmp_path):
    victim = tmp_path / "victim"
    pkg = _clone(tiny_package, tmp_path / "pkg")
    good = (pkg / "model.safetensors").read_bytes()
    write, expected = _bad_safetensors(victim)[case]
    write(pkg / "model.safetensors", good)
    with pytest.raises(PackageError) as err:
        load_asr_package(pkg)
    msg = _one_line(err.value)
    assert msg.startswith(f"{pkg / 'model.safetensors'}: ") and expected in msg, msg
    assert not victim.exists()


@pytest.mark.parametrize("kind", ["voice", "vocoder"])
def test_a_pickle_as_model_safetensors_is_refused_for_voices_and_vocoders(kind, tiny_voice, vocoder, tmp_path):
    victim = tmp_path / "victim"
    pkg = _clone({"voice": tiny_voice, "vocoder": vocoder}[kind], tmp_path / "pkg")
    (pkg / "model.safetensors").write_bytes(pickle.dumps({"w": _Evil(victim)}))
    load = load_tts_package if kind == "voice" else (lambda p: load_vocoder(str(p), tts_fbank()))
    with pytest.raises(PackageError, match="never unpickled") as err:
        load(pkg)
    assert str(pkg / "model.safetensors") in _one_line(err.value) and not victim.exists()


def test_missing_or_unreadable_weights_name_the_file(tiny_package, tmp_path):
    pkg = _clone(tiny_package, tmp_path / "pkg")
    (pkg / "model.safetensors").unlink()
    with pytest.raises(PackageError) as err:
        load_asr_package(pkg)
    msg = _one_line(err.value)
    assert msg.startswith(f"{pkg / 'model.safetensors'}: missing") and "model.pt" in msg, msg
    (pkg / "model.safetensors").mkdir()
    with pytest.raises(PackageError, match="model.safetensors: cannot read") as err:
        read_weights(pkg / "model.safetensors")
    _one_line(err.value)


def test_the_loaded_weights_are_the_written_ones(tiny_package):
    pkg = load_asr_package(tiny_package)
    state = load_file(tiny_package / "model.safetensors")
    own = pkg.model.state_dict()
    assert set(state) == set(own) and all(torch.equal(state[k], own[k]) for k in own)
    assert np.allclose(own["cmvn.mean"].numpy(), -5.0)
