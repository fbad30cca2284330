"""``speech export``: a model package (or a bundled model's name) -> ONNX graphs for the torch-free runtime."""
from __future__ import annotations

import argparse
import shlex
import sys

from speech.cli import errors

EXPORT_HELP = """Export a recognizer, voice or vocoder package (or a bundled model's name) to ONNX for the
torch-free runtime (pip install 'speech[runtime]'; speech transcribe|synthesize --runtime onnx --model DIR).

examples:
  speech export digits --format onnx -o exports/digits
  speech export an4 --format onnx --int8 -o exports/an4-int8 --check test.jsonl
  speech export kathleen --format onnx -o exports/kathleen
  speech export exp/fsdd/model --format onnx --opset 17 -o exports/my-digits

The folder holds the graphs (recognizers: model.onnx, and stream.onnx for a unidirectional model;
voices: encoder.onnx, decoder.onnx and g2p.onnx), the vocabulary, feature and normalization settings,
meta.json, and card.md with the parity numbers measured against the torch model at export time.
--int8 quantizes the LSTM and linear layers' weights to int8 (onnxruntime dynamic quantization)."""


def add_export(sub) -> None:
    p = sub.add_parser("export", help="export a model package to ONNX (+int8) for the torch-free runtime",
                       description=EXPORT_HELP, epilog=errors.EXIT_STATUS_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="NAME|PATH", help="a model package folder or a bundled model's name")
    p.add_argument("--format", default="onnx", help="onnx (the one format so far)")
    p.add_argument("--int8", action="store_true", help="int8 weights for LSTM and linear layers (smaller, faster)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset to write (default 17)")
    p.add_argument("--check", metavar="MANIFEST.jsonl",
                   help="recognizers: also transcribe this manifest with torch and ONNX and record both WERs on the card")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write (replaced when complete)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from speech.export.api import export_model  # torch and onnx: only when exporting
    from speech.export.common import DEFAULT_OPSET

    command = "speech export " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 else ""
    result = export_model(args.model, args.output, fmt=args.format, int8=args.int8,
                          opset=args.opset if args.opset is not None else DEFAULT_OPSET,
                          check_manifest=args.check, command=command)
    for role, size in result.sizes.items():
        print(f"{result.path / role}\t{size / 1e6:.2f} MB")
    for key, value in result.parity.items():
        print(f"parity: {key}: {value}")
    return 0
