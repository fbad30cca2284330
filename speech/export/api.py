"""``speech export``: one entry point over the package kinds (recognizer, voice, vocoder)."""
from __future__ import annotations

import json
from pathlib import Path

from speech.export.asr import export_asr
from speech.export.common import DEFAULT_OPSET, ExportError, ExportResult
from speech.export.vocoder import export_vocoder
from speech.export.voice import export_voice
from speech.packages.format import PackageError
from speech.packages.registry import ONNX_EXPORT_FORMAT, resolve_model

FORMATS = ("onnx",)


def package_task(path: Path) -> str:
    """The task a package folder's meta.json names (``asr``, ``tts``, ``vocoder``, ``g2p``); one line if unreadable."""
    meta_path = path / "meta.json"
    if not path.is_dir():
        raise PackageError(f"{path}: no such model package folder" if not path.exists()
                           else f"{path}: is a file; expected a model package folder")
    if not meta_path.is_file():
        raise PackageError(f"{meta_path}: missing; expected a model package folder (config.yaml, meta.json, weights)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PackageError(f"{meta_path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise PackageError(f"{meta_path}: expected a JSON object")
    if meta.get("format") == ONNX_EXPORT_FORMAT:
        raise ExportError(f"{path}: is an ONNX export already; export the model package it came from")
    task = meta.get("task")
    if task is None and (path / "tokenizer.json").is_file():
        task = "asr"  # packages written before meta.json carried the task
    return str(task)


def export_model(spec: str | Path, out: str | Path, *, fmt: str = "onnx", int8: bool = False,
                 opset: int = DEFAULT_OPSET, measure: bool = True, check_manifest: str | Path | None = None,
                 command: str = "") -> ExportResult:
    """Export a package folder or a bundled model's name into ``out``.

    Raises:
        ExportError / PackageError: one line (an unknown format, a kind that cannot export, a package
            missing a file, an opset this installation cannot write).
    """
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    try:
        src = resolve_model(spec, "model")
    except ValueError as e:
        raise PackageError(str(e)) from None
    task = package_task(src)
    if check_manifest is not None and task != "asr":
        raise ExportError(f"--check {check_manifest}: compares transcripts, so it is for recognizers; {src} is a "
                          f"{task} package")
    if task == "asr":
        return export_asr(src, Path(out), int8=int8, opset=opset, measure=measure, command=command,
                          check_manifest=Path(check_manifest) if check_manifest else None)
    if task == "tts":
        return export_voice(src, Path(out), int8=int8, opset=opset, measure=measure, command=command)
    if task == "vocoder":
        return export_vocoder(src, Path(out), int8=int8, opset=opset, measure=measure, command=command)
    if task == "g2p":
        raise ExportError(f"{src}: a G2P model is exported inside the voice that uses it (speech export VOICE); "
                          "it cannot export on its own")
    raise ExportError(f"{src}: meta.json task {task!r} cannot export; expected a recognizer (asr), voice (tts) "
                      "or vocoder package")
