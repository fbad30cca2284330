"""``speech export`` for recognizers: graphs that match torch on padded batches, int8, the card, refusals."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from speech.cli.main import main
from speech.export.api import export_model
from speech.export.common import ExportError
from speech.packages.asr import load_asr_package
from speech.packages.format import PackageError
from speech.runtime.format import read_export, session


def test_export_matches_torch_on_a_padded_batch(tiny_package, tmp_path):
    result = export_model(tiny_package, tmp_path / "onnx")
    exp = read_export(result.path, "asr")
    assert exp.precision == "fp32" and set(exp.graphs) == {"model"}
    assert {"tokenizer.json", "meta.json", "card.md"} <= {p.name for p in result.path.iterdir()}
    card = (result.path / "card.md").read_text()
    assert "max |log-prob difference|" in card
    pkg = load_asr_package(tiny_package)
    lens = torch.tensor([97, 40, 11])
    feats = torch.randn(3, 97, 80) - 5.0
    with torch.inference_mode():
        ref, ref_lens = pkg.model(feats, lens)
    got, got_lens = session(exp.graphs["model"], 1).run(None, {"feats": feats.numpy(), "feat_lens": lens.numpy()})
    assert got_lens.tolist() == ref_lens.tolist()
    for i, n in enumerate(ref_lens.tolist()):  # each row as if alone: padding never leaks in
        assert np.abs(got[i, :n] - ref[i, :n].numpy()).max() < 1e-4
        alone, _ = session(exp.graphs["model"], 1).run(None, {"feats": feats[i:i + 1, : lens[i]].numpy(),
                                                               "feat_lens": lens[i:i + 1].numpy()})
        assert np.abs(alone[0, :n] - got[i, :n]).max() < 1e-4


def test_int8_export_is_smaller_and_runs(tiny_package, tmp_path):
    fp32 = export_model(tiny_package, tmp_path / "fp32", measure=False)
    int8 = export_model(tiny_package, tmp_path / "int8", int8=True)
    assert read_export(int8.path).precision == "int8"
    assert sum(int8.sizes.values()) < sum(fp32.sizes.values())
    names = {n.op_type for n in __import__("onnx").load(str(int8.path / "model.int8.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in names


def test_export_command_writes_and_reexport_replaces(tiny_package, tmp_path, capsys):
    out = tmp_path / "e"
    assert main(["export", str(tiny_package), "--format", "onnx", "-o", str(out)]) == 0
    assert "model.onnx" in capsys.readouterr().out
    (out / "stale.txt").write_text("x")
    assert main(["export", str(tiny_package), "-o", str(out), "--int8"]) == 0
    assert not (out / "stale.txt").exists() and json.loads((out / "meta.json").read_text())["precision"] == "int8"


def test_export_refusals_are_one_line(tiny_package, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_package, broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(PackageError, match="tokenizer.json: missing"):
        export_model(broken, tmp_path / "x")
    with pytest.raises(ExportError, match="--opset 99"):
        export_model(tiny_package, tmp_path / "x", opset=99)
    with pytest.raises(ExportError, match="--format tflite"):
        export_model(tiny_package, tmp_path / "x", fmt="tflite")
    with pytest.raises(ExportError, match="G2P model is exported inside the voice"):
        export_model("g2p", tmp_path / "x")
    done = export_model(tiny_package, tmp_path / "ok", measure=False).path
    with pytest.raises(ExportError, match="ONNX export already"):
        export_model(done, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert main(["export", str(broken), "-o", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]


@pytest.mark.parametrize("override,match", [("model.asr.cell=mi_lstm", "cell='mi_lstm' cannot export"),
                                            ("model.asr.projection_size=8", "cannot write LSTM projections")])
def test_models_the_graphs_cannot_express_are_refused(override, match, tmp_path):
    from speech.config import compose, instantiate
    from speech.packages.asr import save_asr_package
    from speech.text.tokenizer import CharTokenizer

    cfg = compose(["experiment=fsdd", "model.asr.hidden_size=16", "model.asr.num_layers=1", override])
    tok = CharTokenizer.build(["one two"])
    model = instantiate(cfg.model.asr, input_dim=80, vocab_size=len(tok), specaugment=None)
    pkg = save_asr_package(tmp_path / "pkg", cfg, tok, model.state_dict(), {"steps": 0})
    with pytest.raises(ExportError, match=match):
        export_model(pkg, tmp_path / "out")
