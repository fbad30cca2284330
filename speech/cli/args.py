"""Argument types and option groups shared by the ``speech`` sub-parsers (standard library only)."""
from __future__ import annotations

import argparse
import math


def number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse type: a finite int/float within [low, high] (low excluded with ``low_open``)."""
    name = "an integer" if kind is int else "a number"
    bound = (f" > {low:g}" if low_open else f" >= {low:g}") if low is not None else ""
    bound += f" and <= {high:g}" if high is not None else ""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {name}{bound}") from None
        if not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low)) or \
                (high is not None and v > high):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {name}{bound}")
        return v
    parse.__name__ = name
    return parse


COUNT = number(int, 1)             # sizes and counts: 1, 2, ...
SECONDS = number(float, 0, low_open=True)
FINITE = number(float)

DECODING_HELP = """decoding (config group decoding/, conf/decoding/*.yaml, whose values are the defaults):
  unless told otherwise, the decoding the model package recommends (the bundled an4 recognizer:
  beam search with its own LM), else greedy best-path decoding. Words such as decoding=beam decoding.beam_size=8
  decoding.prune_logp=-8 (among the inputs) override the config like `speech train` overrides do.
  --beam-size, --lm, --lm-weight, --word-bonus and --lexicon are shortcuts for decoding.beam_size=,
  decoding.lm=, ... and select decoding=beam unless a decoding= word is given; what they leave
  unset comes from conf/decoding/beam.yaml (shown by: speech train decoding=beam --print-config)."""


def add_decoding_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decoding options", "shortcuts for decoding.KEY=VALUE (see 'decoding' below)")
    g.add_argument("--beam-size", type=COUNT, help="decoding.beam_size: hypotheses kept per frame")
    g.add_argument("--lm", help="decoding.lm: word n-gram language model in ARPA format (speech lm TEXT OUT.arpa)")
    g.add_argument("--lm-weight", type=FINITE, help="decoding.lm_weight: weight of the LM's log-probability")
    g.add_argument("--word-bonus", type=FINITE,
                   help="decoding.word_bonus: score added per word (counters the LM's short bias)")
    g.add_argument("--lexicon", help="decoding.lexicon: word list; only these words may be output")


def add_segment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-segment", type=number(float, 1.0), default=20.0,
                   help="recordings longer than this many seconds are cut into segments of at most this length")
    p.add_argument("--segment", choices=("pause", "window"), default="pause",
                   help="pause: cut long recordings at every pause (energy voice activity); window: fixed "
                        "windows cut at their quietest point")
    p.add_argument("--min-pause", type=SECONDS, default=0.3, help="shortest pause (seconds) that separates segments")
    p.add_argument("--speech-floor", type=number(float, -120.0, 0.0, low_open=True), default=-70.0, metavar="DB",
                   help="audio whose loudest 20 ms frame is below this level (dBFS) holds no speech and is not "
                        "decoded (default -70; lower it for very quiet recordings)")
    p.add_argument("--segment-pad", type=number(float, 0.0), default=0.1,
                   help="seconds of each pause kept around a segment's speech (0 suits models trained on "
                        "clips trimmed to the word, such as FSDD)")


RUNTIME_HELP = ("torch (default): a model package run with torch; onnx: an ONNX export (speech export MODEL "
                "--format onnx -o DIR) run with onnxruntime, without torch (pip install 'speech[runtime]')")


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """--runtime and --threads, shared by transcribe and synthesize."""
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch", help=RUNTIME_HELP)
    p.add_argument("--threads", type=COUNT, default=None,
                   help="CPU threads for the model (default: the library's own choice, usually every core)")
