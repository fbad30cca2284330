"""``speech`` commands for training and recognition: each parses nothing itself (see
:mod:`speech.cli.parser`), calls one pipeline and prints.

Heavy modules (torch, the pipelines) are imported inside each command, so that ``speech --help``
and a usage error answer at once.
"""
from __future__ import annotations

import argparse
import glob
import json
import re
import sys
from pathlib import Path

from speech.cli import errors
from speech.cli.errors import printable

DECODING_OVERRIDE = re.compile(r"^decoding(\.[A-Za-z_][A-Za-z0-9_]*)*=")
"""A command-line word that overrides the decoding config: ``decoding=beam``, ``decoding.beam_size=8``."""

DECODING_FLAGS = ("beam_size", "lm_weight", "word_bonus", "lexicon", "lm")
"""Options that are shortcuts for ``decoding.<name>=...`` (and select ``decoding=beam``)."""


# ----------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from speech.config import compose, to_yaml
    from speech.train.asr import train_asr

    cfg = compose(list(args.overrides) + (["data.skip_bad=true"] if args.skip_bad else []))
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0
    if cfg.model.get("tts") is not None:
        from speech.train.tts import train_tts

        result, package = train_tts(cfg)
        if package is not None:
            print(f"voice package: {package}")
            if result.best_metric is not None:
                print(f"best dev mel L1 (normalized): {result.best_metric:.4f} after {result.steps} steps, "
                      f"{result.seconds / 60:.1f} min")
        return 0
    result, package = train_asr(cfg)
    if package is not None:
        print(f"model package: {package}")
        if result.best_metric is not None:
            print(f"best dev {result.monitor}: {result.best_metric:.4f} after {result.steps} steps, "
                  f"{result.seconds / 60:.1f} min")
    return 0


# --------------------------------------------------------------------------- prepare
def cmd_prepare(args: argparse.Namespace) -> int:
    from speech.data.manifest import read_manifest, total_duration
    from speech.data.prepare import prepare

    outputs = prepare(args.corpus, args.src, args.out, force=args.force)
    for split, path in outputs.items():
        utts = read_manifest(path)
        print(f"{split}: {len(utts)} utterances, {total_duration(utts) / 60:.1f} min -> {path}")
    return 0


# -------------------------------------------------------------------------------- lm
def cmd_lm(args: argparse.Namespace) -> int:
    from speech.decoding.lm import ArpaLM, build_lm

    build_lm(args.text, args.out, order=args.order, method=args.method, normalize=not args.no_normalize)
    lm = ArpaLM.load(args.out)
    print(f"{args.out}: order {lm.order}, vocabulary {len(lm.vocab)} words")
    return 0


# ------------------------------------------------------------------------ transcribe
def expand_inputs(items: list[str]) -> tuple[list[str], list[str]]:
    """Files, folders (searched recursively for audio) and glob patterns -> (files, problems)."""
    from speech.audio import AUDIO_EXTENSIONS

    files, problems = [], []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                problems.append(f"{item}: folder holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            files.extend(found)
        elif p.exists():
            files.append(item)
        elif glob.has_magic(item):
            found = sorted(glob.glob(item, recursive=True))
            if not found:
                problems.append(f"{item}: pattern matches no files")
            files.extend(f for f in found if Path(f).is_file())
        else:
            files.append(item)  # reported by the loader as missing, in order
    return files, problems


def split_decoding_overrides(words: list[str]) -> tuple[list[str], list[str]]:
    """Positional words -> (inputs, decoding overrides); an existing file is an input whatever its name."""
    inputs, overrides = [], []
    for w in words:
        (overrides if DECODING_OVERRIDE.match(w) and not Path(w).exists() else inputs).append(w)
    return inputs, overrides


def decoding_from_args(args: argparse.Namespace, overrides: list[str]):
    """The decoding config node (``conf/decoding``) of a command: its ``decoding...=`` words, then the
    shortcut options (``--beam-size`` is ``decoding.beam_size``, ...). A shortcut without a
    ``decoding=`` word selects ``decoding=beam``; with neither, ``decoding=greedy`` (the default)."""
    # torch and Hydra: only when a command decodes
    from speech.pipelines.transcriber import decoding_config

    values = {k: getattr(args, k) for k in DECODING_FLAGS if getattr(args, k, None) is not None}
    chosen = any(o.split("=", 1)[0] == "decoding" for o in overrides)
    return decoding_config((["decoding=beam"] if values and not chosen else []) + overrides, **values)


def segment_config(args: argparse.Namespace):
    from speech.pipelines.segment import SegmentConfig

    return SegmentConfig(max_seconds=args.max_segment, search_seconds=min(4.0, args.max_segment / 4),
                         method=args.segment, min_pause=args.min_pause, pad_seconds=args.segment_pad,
                         speech_floor_db=args.speech_floor)


def _print_transcript(r, args: argparse.Namespace, show_path: bool) -> None:
    if args.format == "json":
        print(json.dumps(r.to_dict(), ensure_ascii=False), flush=True)
    elif args.format in ("srt", "vtt"):
        from speech.pipelines.subtitles import group_cues, to_srt, to_vtt

        cues = group_cues(r.words or [])
        body = to_srt(cues) if args.format == "srt" else to_vtt(cues)
        if args.output_dir:
            out = Path(args.output_dir) / (Path(r.path).stem + "." + args.format)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(body)
            print(f"{printable(r.path)}\t{out}", flush=True)
        else:
            print(body, end="", flush=True)
    else:
        print(f"{printable(r.path)}\t{r.text}" if show_path else r.text, flush=True)


def cmd_transcribe(args: argparse.Namespace) -> int:
    from speech.pipelines import Failure, Transcriber

    paths, overrides = split_decoding_overrides(args.paths)
    if not paths:
        raise ValueError("no audio given: expected files, folders or glob patterns besides the decoding overrides")
    decoding = decoding_from_args(args, overrides)
    files, problems = expand_inputs(paths)
    for p in problems:
        errors.error(p)
    tr = Transcriber(args.model, device=args.device, batch_size=args.batch_size, segment=segment_config(args),
                     decoding=decoding)
    failed = len(problems)
    show_path = len(files) > 1 or len(paths) > 1
    progress = len(files) > 1 and sys.stderr.isatty() if args.progress is None else args.progress
    timestamps = args.timestamps or args.format in ("srt", "vtt")
    for r in tr.transcribe_files(files, progress=progress, timestamps=timestamps):
        if isinstance(r, Failure):
            failed += 1
            errors.error(r.error)
            continue
        for w in r.warnings:
            errors.warning(w)
        _print_transcript(r, args, show_path)
    total = len(files) + len(problems)
    if failed and total > 1:
        errors.error(f"{failed} of {total} inputs failed")
    if not failed:
        return errors.OK
    return errors.BAD_INPUT if failed == total else errors.BATCH_FAILED  # nothing done vs some done


# -------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from speech.pipelines.evaluate_asr import evaluate_manifest

    manifests, overrides = split_decoding_overrides([args.manifest, *args.overrides])
    if len(manifests) != 1:
        raise ValueError(f"expected one manifest and decoding overrides (decoding=beam decoding.KEY=VALUE), "
                         f"got {len(manifests)} other arguments: {' '.join(manifests)}")
    report = evaluate_manifest(args.model, manifests[0], device=args.device, batch_size=args.batch_size,
                               output=args.output, progress=not args.quiet,
                               decoding=decoding_from_args(args, overrides))
    print(json.dumps(report.summary(), indent=2))
    return 0


# ------------------------------------------------------------------------------ align
def cmd_align(args: argparse.Namespace) -> int:
    from speech.decoding.align import to_json, to_textgrid
    from speech.pipelines.alignment import align_audio

    text = args.text
    if Path(text).is_file():
        text = Path(text).read_text()
    out = Path(args.out) if args.out else Path(args.audio).with_suffix("")
    words, tokens, duration = align_audio(args.model, args.audio, text, device=args.device,
                                          segment=segment_config(args))
    to_json(words, tokens, out.with_suffix(".json"))
    to_textgrid(words, tokens, duration, out.with_suffix(".TextGrid"))
    for w in words:
        print(f"{w.start:8.2f} {w.end:8.2f}  {w.label}")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.TextGrid')}", file=sys.stderr)
    return 0


def cmd_align_dataset(args: argparse.Namespace) -> int:
    from speech.pipelines.alignment import align_manifest

    summary = align_manifest(args.model, args.manifest, args.out, batch_size=args.batch_size, device=args.device,
                             progress=not args.quiet)
    print(f"aligned {summary['aligned']} utterances ({summary['skipped']} skipped) -> {summary['out']}")
    return 0
