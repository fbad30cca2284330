"""Recognizer packages -> ONNX: ``model.onnx`` (offline) and, for a unidirectional model, ``stream.onnx``.

``model.onnx``: ``feats`` (B, T, F) raw log-mel float32 and ``feat_lens`` (B,) int64 -> ``log_probs``
(B, T', V) and ``out_lens`` (B,); batch and time axes are dynamic. CMVN, frame stacking, the LSTM
layers (ONNX ``LSTM`` nodes with ``sequence_lens``, so padding never leaks into a row) and the output
layer are in the graph; features and decoding stay outside (numpy in :mod:`speech.runtime`).

Parity is measured at export: a padded batch of random features of three lengths through torch and
through onnxruntime (largest log-prob difference, best-path agreement), and with a manifest, the
transcripts of both on real audio (WER of each against the references, and how many agree).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from speech.data.manifest import read_manifest
from speech.decoding.metrics import error_stats
from speech.export.common import ExportError, ExportResult, check_opset, export_graph, \
    quantize_int8, write_export
from speech.export.stream import export_stream_graph, is_streamable
from speech.packages.asr import AsrPackage, load_asr_package
from speech.pipelines.transcriber import Transcriber
from speech.runtime.asr import OnnxTranscriber
from speech.runtime.format import FORMAT, FORMAT_VERSION, session

MODEL_GRAPH = "model.onnx"
PARITY_LENGTHS = (301, 173, 50)
"""Feature lengths (frames) of the random padded batch parity is measured on."""


def _check_exportable(pkg: AsrPackage) -> None:
    cfg = getattr(pkg.model, "cfg", None)
    if getattr(cfg, "cell", "lstm") != "lstm":
        raise ExportError(f"{pkg.path}: model.asr.cell={cfg.cell!r} cannot export to ONNX (a Python loop over time, "
                          "not an LSTM node); expected cell=lstm")
    if getattr(cfg, "projection_size", 0):
        raise ExportError(f"{pkg.path}: model.asr.projection_size={cfg.projection_size}: torch's ONNX exporter cannot "
                          "write LSTM projections; expected projection_size=0")


def _random_parity(model: torch.nn.Module, graph: Path, input_dim: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    lens = torch.tensor(PARITY_LENGTHS)
    feats = torch.randn(len(lens), int(lens.max()), input_dim, generator=gen) * 2.0 - 6.0
    for i, n in enumerate(lens.tolist()):
        feats[i, n:] = 0.0
    with torch.inference_mode():
        ref, ref_lens = model(feats, lens)
    got, got_lens = session(graph, 1).run(None, {"feats": feats.numpy(), "feat_lens": lens.numpy()})
    if not np.array_equal(got_lens, ref_lens.numpy()):
        raise ExportError(f"{graph}: output lengths {got_lens.tolist()} differ from torch's {ref_lens.tolist()}")
    diff, agree, total = 0.0, 0, 0
    for i, n in enumerate(ref_lens.tolist()):
        a, b = ref[i, :n].numpy(), got[i, :n]
        diff = max(diff, float(np.abs(a - b).max()))
        agree += int((a.argmax(-1) == b.argmax(-1)).sum())
        total += n
    return {"random batch (3 utterances, padded): max |log-prob difference|": f"{diff:.2e}",
            "random batch: best-path frames equal": f"{agree}/{total}"}


def _manifest_parity(pkg: AsrPackage, export_dir: Path, manifest: Path, limit: int) -> dict:
    utts = [u for u in read_manifest(manifest) if u.text is not None][:limit]
    if not utts:
        raise ExportError(f"--check {manifest}: no utterances with text to compare on")
    paths, refs = [str(u.audio) for u in utts], [u.text for u in utts]
    torch_tr = Transcriber(pkg)
    onnx_tr = OnnxTranscriber(export_dir, threads=1)
    hyps_t = [getattr(r, "text", "") for r in torch_tr.transcribe_files(paths)]
    hyps_o = [getattr(r, "text", "") for r in onnx_tr.transcribe_files(paths)]
    wer_t, wer_o = error_stats(refs, hyps_t).rate, error_stats(refs, hyps_o).rate
    same = sum(a == b for a, b in zip(hyps_t, hyps_o))
    return {f"{manifest.name} ({len(utts)} utterances) WER torch": f"{100 * wer_t:.2f}%",
            f"{manifest.name} WER onnx": f"{100 * wer_o:.2f}%",
            f"{manifest.name} transcripts identical": f"{same}/{len(utts)}"}


def export_asr(src: Path, out: Path, *, int8: bool, opset: int, measure: bool = True, command: str = "",
               check_manifest: Path | None = None, check_limit: int = 500) -> ExportResult:
    """Export the recognizer package ``src`` into the folder ``out`` (see the module docstring).

    Raises:
        ExportError: one line: a model the graphs cannot express, or a parity check that failed outright.
        PackageError: the package is missing a file or malformed (from the loader).
    """
    opset = check_opset(opset)
    pkg = load_asr_package(src)
    _check_exportable(pkg)
    model = pkg.model.float().eval()
    precision = "int8" if int8 else "fp32"

    def build(tmp: Path) -> dict:
        graphs: dict[str, str] = {}
        fp32 = tmp / (".model.fp32.onnx" if int8 else MODEL_GRAPH)
        x = torch.zeros(2, 40, pkg.model.input_dim)
        export_graph(model, (x, torch.tensor([40, 23])), fp32, input_names=["feats", "feat_lens"],
                     output_names=["log_probs", "out_lens"],
                     dynamic_axes={"feats": {0: "batch", 1: "frames"}, "feat_lens": {0: "batch"},
                                   "log_probs": {0: "batch", 1: "out_frames"}, "out_lens": {0: "batch"}}, opset=opset)
        entries: dict = {}
        if is_streamable(model):
            entries = export_stream_graph(model, tmp, opset)
            graphs.update(entries.pop("graphs"))
        parity: dict = {}
        if int8:
            graph = tmp / "model.int8.onnx"
            quantize_int8(fp32, graph)
            if measure:
                parity.update({f"float32 graph: {k}": v for k, v in _random_parity(model, fp32, pkg.model.input_dim).items()})
            fp32.unlink()
            for role, name in list(graphs.items()):
                q = name.replace(".onnx", ".int8.onnx")
                quantize_int8(tmp / name, tmp / q)
                (tmp / name).unlink()
                graphs[role] = q
            graphs["model"] = graph.name
        else:
            graphs["model"] = MODEL_GRAPH
        if measure:
            parity.update(_random_parity(model, tmp / graphs["model"], pkg.model.input_dim))
        shutil.copyfile(pkg.path / "tokenizer.json", tmp / "tokenizer.json")
        decoding = pkg.meta.get("decoding")
        if isinstance(decoding, dict):
            for key in ("lm", "lexicon"):
                name = decoding.get(key)
                if isinstance(name, str) and (pkg.path / name).is_file() and "/" not in name:
                    shutil.copyfile(pkg.path / name, tmp / name)
        meta = {"graphs": graphs, "features": pkg.fbank.runtime_settings(), "tokenizer": "tokenizer.json",
                "time_reduction": int(pkg.model.time_reduction), "vocab_size": int(pkg.model.vocab_size),
                "decoding": decoding, **entries}
        if measure and check_manifest is not None:
            # the runtime reads meta.json: write a provisional one to measure with, replaced by write_export
            (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                                       "task": "asr", "precision": precision, **meta}))
            parity.update(_manifest_parity(pkg, tmp, Path(check_manifest), check_limit))
        meta["parity"] = parity
        return meta

    return write_export(out, pkg.path, "asr", precision, opset, build, command)
