"""The ONNX export folder: what ``speech export --format onnx`` writes and the runtime reads.

Layout (every kind)::

    meta.json        {"format": "speech-onnx", "format_version": 1, "task": "asr" | "tts" | "vocoder",
                      "precision": "fp32" | "int8", "opset": 17, "graphs": {role: file name},
                      "source": {...the torch package's meta...}, "parity": {...measured at export...},
                      plus the task's own settings (features, decoding, ...)}
    <graph>.onnx     one or more graphs, named in ``graphs``
    card.md          what was exported, from which package, and the parity numbers measured
    side files       tokenizer.json, stats.json, lm.arpa, ... copied from the package

A torch model package (``meta.json`` format ``speech-asr-package`` etc.) is recognised and refused
with a message saying how to export it; the torch loaders refuse an export the same way.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speech.packages.registry import ONNX_EXPORT_FORMAT, PACKAGE_WORDS, resolve_model

FORMAT = ONNX_EXPORT_FORMAT
FORMAT_VERSION = 1
TASKS = ("asr", "tts", "vocoder")
PRECISIONS = ("fp32", "int8")
MAX_META_BYTES = 1 << 20


class ExportFormatError(ValueError):
    """An ONNX export folder that is missing, incomplete or malformed, or a torch package given to the
    runtime (one line naming the file and what was expected)."""


def is_onnx_export(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder whose meta.json says it is an ONNX export (no other check)."""
    meta = Path(path) / "meta.json"
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def torch_package_message(path: str | os.PathLike, task: str | None) -> str:
    """What to say when a torch model package is given where an ONNX export is needed."""
    what = PACKAGE_WORDS.get(task or "", "model")
    return (f"{path}: is a torch {what} package, and --runtime onnx needs an ONNX export of it; make one "
            f"with: speech export {path} --format onnx -o DIR (then pass DIR), or drop --runtime onnx to run "
            "it with torch")




@dataclass
class OnnxExport:
    """A checked export folder: its meta.json and the paths of its graphs."""

    path: Path
    meta: dict[str, Any]
    graphs: dict[str, Path] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def precision(self) -> str:
        return self.meta["precision"]

    def file(self, name: str) -> Path:
        """A side file of the export named in meta.json (a plain name inside the folder), checked to exist."""
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            raise ExportFormatError(f"{self.path / 'meta.json'}: {name!r} is not a file name inside the export")
        p = self.path / name
        if not p.is_file():
            raise ExportFormatError(f"{p}: missing; the export is incomplete (export the model again)")
        return p


def read_export(spec: str | os.PathLike, task: str | None = None) -> OnnxExport:
    """Check and read an export folder (a path; a bundled name resolves to its folder first).

    Raises:
        ExportFormatError: one line: not found, not a folder, no/bad meta.json, a torch package,
            another task, an unknown format version, or a graph file missing.
    """
    path = resolve_model(spec, task or "model")
    meta_path = path / "meta.json"
    if not path.exists():
        raise ExportFormatError(f"{path}: no such ONNX export folder")
    if not path.is_dir():
        raise ExportFormatError(f"{path}: is a file; expected an ONNX export folder (speech export ... -o DIR)")
    if not meta_path.is_file():
        raise ExportFormatError(f"{meta_path}: missing; expected the folder written by speech export --format onnx")
    if meta_path.stat().st_size > MAX_META_BYTES:
        raise ExportFormatError(f"{meta_path}: larger than {MAX_META_BYTES} bytes; not an export's meta.json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportFormatError(f"{meta_path}: not valid JSON ({e}); export the model again") from None
    if not isinstance(meta, dict):
        raise ExportFormatError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    fmt = meta.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, str) and fmt.startswith("speech-"):
            raise ExportFormatError(torch_package_message(spec, meta.get("task")))
        raise ExportFormatError(f"{meta_path}: format {fmt!r}; expected {FORMAT!r} (an ONNX export)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ExportFormatError(f"{meta_path}: format_version {meta.get('format_version')!r}; this toolkit reads "
                                f"{FORMAT_VERSION} (export the model again with this version)")
    if meta.get("task") not in TASKS:
        raise ExportFormatError(f"{meta_path}: task {meta.get('task')!r}; expected one of {', '.join(TASKS)}")
    if task is not None and meta["task"] != task:
        raise ExportFormatError(f"{path}: is an ONNX export of a {PACKAGE_WORDS.get(meta['task'], meta['task'])}, "
                                f"not of a {PACKAGE_WORDS.get(task, task)}")
    if meta.get("precision") not in PRECISIONS:
        raise ExportFormatError(f"{meta_path}: precision {meta.get('precision')!r}; expected fp32 or int8")
    graphs = meta.get("graphs")
    if not isinstance(graphs, dict) or not graphs:
        raise ExportFormatError(f"{meta_path}: graphs: expected an object of role -> .onnx file name")
    out = OnnxExport(path, meta)
    for role, name in graphs.items():
        if not isinstance(name, str) or not name.endswith(".onnx"):
            raise ExportFormatError(f"{meta_path}: graphs.{role}: {name!r}; expected a .onnx file name")
        out.graphs[role] = out.file(name)
    return out


def session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session for one graph file; ``threads``: intra-op threads (None: onnxruntime's
    default, all cores). A file onnxruntime cannot read is one line naming it.

    Raises:
        ExportFormatError: the graph is not a readable ONNX model.
    """
    import onnxruntime as ort  # noqa: PLC0415 - the runtime's one heavy import, only when a graph is run

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # idle intra-op threads sleep instead of spinning: the numpy work between runs (features, decoding,
    # Griffin-Lim) needs those cores
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own classes; one line names the file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportFormatError(f"{path}: not a readable ONNX graph ({first[:200]}); export the model again") from None
