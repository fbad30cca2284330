"""What every export shares: torch -> ONNX, the opset check, int8 quantization, the export folder.

Graphs are written by torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``):
it turns ``pack_padded_sequence`` -> ``nn.LSTM`` -> ``pad_packed_sequence`` into one ONNX ``LSTM``
node with ``sequence_lens``, so a padded batch gives each row exactly the result it gets alone (the
dynamo exporter does not handle packed sequences).

int8 is onnxruntime's dynamic quantization: weights of LSTM, MatMul and Gemm nodes stored as int8
(per tensor, symmetric), activations quantized on the fly; LSTMs become ``DynamicQuantizeLSTM``.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from speech import __version__
from speech.fileio import atomic_write_text
from speech.runtime.format import FORMAT, FORMAT_VERSION

DEFAULT_OPSET = 17
"""The opset graphs are written with unless ``--opset`` says otherwise (onnxruntime 1.14+ runs it)."""
MIN_OPSET = 14
"""The lowest opset the toolkit's graphs can be written with (LSTM with layout, LayerNormalization
needs 17 to be one node; below it torch decomposes it, which still works)."""
QUANT_OPS = ("LSTM", "MatMul", "Gemm")
"""Node types int8 export quantizes (dynamic quantization: weights int8, activations on the fly)."""


class ExportError(ValueError):
    """A package that cannot be exported, or an export option this installation cannot honour (one line)."""


def check_opset(opset: int) -> int:
    """``opset`` if torch's exporter and the installed onnx can both write it, else one-line ExportError."""
    try:
        import onnx  # noqa: PLC0415 - onnx only when exporting
    except ImportError:
        raise ExportError("exporting needs the onnx package: pip install 'speech[export]'") from None
    from torch.onnx._constants import ONNX_MAX_OPSET, ONNX_MIN_OPSET  # noqa: PLC0415

    onnx_max = onnx.defs.onnx_opset_version()
    lo, hi = max(MIN_OPSET, ONNX_MIN_OPSET), min(ONNX_MAX_OPSET, onnx_max)
    if not lo <= int(opset) <= hi:
        raise ExportError(f"--opset {opset}: the installed onnx {onnx.__version__} and torch {torch.__version__} "
                          f"can write opsets {lo}..{hi} for these models; expected a number in that range")
    return int(opset)


def export_graph(module: torch.nn.Module, args: tuple, path: Path, *, input_names: Sequence[str],
                 output_names: Sequence[str], dynamic_axes: dict[str, dict[int, str]], opset: int) -> Path:
    """Trace ``module(*args)`` into ``path`` (eval mode, no grad) with named inputs/outputs and dynamic axes."""
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings(), _quiet_stderr():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(module, args, str(path), dynamo=False, input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=opset,
                          do_constant_folding=True)
    return path


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 while torch's C++ exporter runs: it prints shape-inference notes about
    packed sequences for every LSTM, which are expected (the parity check measures the result)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quantize_int8(src: Path, dst: Path, op_types: Sequence[str] = QUANT_OPS) -> Path:
    """onnxruntime dynamic int8 quantization of ``src`` into ``dst`` (the float graph is left alone)."""
    import logging  # noqa: PLC0415

    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415 - only for --int8

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "please run pre-processing" advice on every call
    try:
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(op_types), weight_type=QuantType.QInt8,
                         per_channel=False)
    finally:
        quiet.setLevel(level)
    return dst


@dataclass
class ExportResult:
    """What an export wrote and measured."""

    path: Path
    task: str
    precision: str
    parity: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def _card(meta: dict, sizes: dict[str, int], source: Path) -> str:
    lines = [f"# ONNX export of `{source}`", "",
             f"- task: {meta['task']}; precision: {meta['precision']}; opset {meta['opset']}; "
             f"toolkit {meta['toolkit_version']}",
             "- graphs: " + ", ".join(f"`{n}` ({sizes.get(n, 0) / 1e6:.2f} MB)" for n in meta["graphs"].values()),
             f"- exported with: `{meta['command']}`", "", "## Parity with the torch model (measured at export)", ""]
    parity = meta.get("parity") or {}
    if not parity:
        lines.append("(not measured)")
    for key, value in parity.items():
        lines.append(f"- {key}: {value}")
    lines += ["", "Run it without torch: `pip install 'speech[runtime]'`, then "
              "`speech transcribe|synthesize ... --runtime onnx --model THIS_FOLDER`.", ""]
    return "\n".join(lines)


def write_export(out: str | os.PathLike, source: Path, task: str, precision: str, opset: int,
                 build: Callable[[Path], dict[str, Any]], command: str = "") -> ExportResult:
    """Build an export folder beside ``out`` and rename it in when complete (an existing ``out`` is
    replaced only then; a failure leaves it as it was).

    ``build(tmp_dir)`` writes the graphs and side files into ``tmp_dir`` and returns the task's meta
    entries; it must include ``graphs`` (role -> file name) and may include ``parity``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"-o {out}: is a file; expected a folder to write the export into")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        entries = build(tmp)
        source_meta = {}
        try:
            source_meta = json.loads((source / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "task": task, "precision": precision,
                "opset": opset, "toolkit_version": __version__,
                "command": command or f"speech export {source} --format onnx" + (" --int8" if precision == "int8" else ""),
                "source": {"path": str(source), "format": source_meta.get("format"),
                           "bundled": (source_meta.get("bundled") or {}).get("name")},
                **entries}
        sizes = {name: (tmp / name).stat().st_size for name in meta["graphs"].values()}
        atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(tmp / "card.md", _card(meta, sizes, source))
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(out, task, precision, meta.get("parity") or {}, sizes)
