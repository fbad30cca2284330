"""``speech transcribe --stream FILE|- --model M``: streaming recognition with a unidirectional model.

The input is read ``--chunk-ms`` at a time and each chunk goes through the model as it arrives:

- a WAV file at the model's sample rate is read from disk chunk by chunk; any other file (other
  rates, FLAC, MP3, ...) is loaded and resampled first, then fed in the same chunks;
- ``-`` reads stdin as it arrives: a WAV stream (RIFF header, PCM 8/16/32-bit or float, at the
  model's sample rate; a streaming writer's unknown length is fine), or, without a RIFF header,
  headerless 16-bit little-endian mono PCM at the model's sample rate.

Output: ``--format txt`` (default): partial texts on stderr (rewritten in place on a terminal, one
``partial: TEXT`` line per change otherwise) and the final text on stdout. ``--format json``: JSON
lines on stdout, ``{"type": "partial" | "final", "text": ..., "audio_seconds": ...}``. The final
text is the model's offline decoding (its recommended decoding, e.g. beam + LM, or the decoding
words given) of the whole stream, so it equals ``speech transcribe`` of the same audio.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from speech.cli import errors
from speech.cli.asr import decoding_from_args, segment_config, split_decoding_overrides
from speech.cli.errors import printable
from speech.cli.outputs import STDIN, STDIN_NAME

FORMATS = ("txt", "json")


def _usage(msg: str) -> ValueError:
    return ValueError(f"speech transcribe --stream: {msg} (see speech transcribe --help)")


def _check(args: argparse.Namespace, paths: list[str]) -> str:
    fmt = args.format or "txt"
    if not args.model:
        raise _usage("no --model given: expected a unidirectional model package (or its ONNX export with "
                     "--runtime onnx)")
    if len(paths) != 1:
        raise _usage(f"expected one audio file or - (stdin), got {len(paths)}")
    if fmt not in FORMATS:
        raise _usage(f"--format {fmt}: a stream prints txt or json lines; expected one of {', '.join(FORMATS)}")
    if args.device != "cpu":
        raise _usage(f"--device {args.device}: streaming runs chunk by chunk on the CPU; drop --device")
    for flag, given in (("--manifest", args.manifest), ("--output-dir", args.output_dir),
                        ("--timestamps", args.timestamps)):
        if given:
            raise _usage(f"{flag} is for offline transcription; drop it or drop --stream")
    return fmt


def _recognizer(args: argparse.Namespace, overrides: list[str], name: str):
    if args.runtime == "onnx":
        from speech.runtime.stream import open_onnx_stream

        return open_onnx_stream(args.model, threads=args.threads, name=name,
                                decoding=decoding_from_args(args, overrides), segment=segment_config(args))
    import torch

    from speech.pipelines.streaming import TorchStreamRecognizer
    from speech.pipelines.transcriber import Transcriber

    if args.threads:
        torch.set_num_threads(args.threads)
    tr = Transcriber(args.model, device="cpu", segment=segment_config(args),
                     decoding=decoding_from_args(args, overrides))
    return TorchStreamRecognizer(tr, name=name)


def chunks(path: str, sample_rate: int, chunk_samples: int):
    """Float32 mono chunks of ``path`` (or stdin for ``-``) at ``sample_rate``, as described in the module."""
    import numpy as np

    from speech.runtime.stream import StreamFormatError, pcm_chunks

    if path == STDIN:
        if sys.stdin is None or sys.stdin.isatty():
            raise ValueError("stdin: is a terminal, not audio; pipe a WAV stream or 16-bit PCM in "
                             "(arecord -f S16_LE -r 16000 -t wav | speech transcribe --stream - --model M)")
        yield from pcm_chunks(sys.stdin.buffer, sample_rate, chunk_samples, STDIN_NAME)
        return
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such audio file" if not p.exists() else f"{path}: not a file")
    with open(p, "rb") as f:
        riff = f.read(12)
    if riff[:4] == b"RIFF" and riff[8:12] == b"WAVE":
        try:
            with open(p, "rb") as f:
                yield from pcm_chunks(f, sample_rate, chunk_samples, path)
            return
        except StreamFormatError:
            pass  # another rate or encoding: loaded and resampled below, before the first chunk went out
    from speech.audio import load

    wav, _ = load(path, sample_rate)
    wav = np.asarray(wav, np.float32)
    for i in range(0, len(wav), chunk_samples):
        yield wav[i:i + chunk_samples]


class PartialPrinter:
    """Partial texts on stderr: rewritten in place on a terminal, one line per change otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.shown = False

    def show(self, text: str) -> None:
        if self.tty:  # the end of the text that fits on one line: a wrapped line could not be rewritten
            width = max(10, shutil.get_terminal_size().columns - 1)
            self.stream.write("\r\x1b[K" + printable(text)[-width:])
            self.shown = True
        else:
            self.stream.write(f"partial: {printable(text)}\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def cmd_stream(args: argparse.Namespace) -> int:
    paths, overrides = split_decoding_overrides(args.paths)
    fmt = _check(args, paths)
    path = paths[0]
    name = STDIN_NAME if path == STDIN else path
    rec = _recognizer(args, overrides, name)
    chunk_samples = max(1, int(round(args.chunk_ms * rec.sample_rate / 1000)))
    printer = PartialPrinter()

    def emit(kind: str, text: str, seconds: float) -> None:
        if fmt == "json":
            print(json.dumps({"type": kind, "text": text, "audio_seconds": round(seconds, 3)}, ensure_ascii=False),
                  flush=True)
        elif kind == "partial":
            printer.show(text)
        else:
            printer.clear()
            print(printable(text), flush=True)

    for chunk in chunks(path, rec.sample_rate, chunk_samples):
        partial = rec.accept(chunk)
        if partial is not None:
            emit("partial", partial, rec.audio_seconds)
    result = rec.finish()
    for w in result.warnings:
        printer.clear()
        errors.warning(w)
    emit("final", result.text, result.audio_seconds)
    return errors.OK
