"""``speech`` commands for training and recognition: each parses nothing itself (see
:mod:`speech.cli.parser`), calls one pipeline and prints.

Heavy modules (torch, the pipelines) are imported inside each command, so that ``speech --help``
and a usage error answer at once.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from speech.cli import errors
from speech.cli.errors import printable
from speech.cli.inputs import as_stdin, expand_inputs, stdin_audio
from speech.cli.outputs import STDIN
from speech.fileio import atomic_write_text

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
def split_decoding_overrides(words: list[str]) -> tuple[list[str], list[str]]:
    """Positional words -> (inputs, decoding overrides); an existing file is an input whatever its name."""
    inputs, overrides = [], []
    for w in words:
        (overrides if DECODING_OVERRIDE.match(w) and not Path(w).exists() else inputs).append(w)
    return inputs, overrides


def decoding_from_args(args: argparse.Namespace, overrides: list[str]):
    """The decoding config node (``conf/decoding``) of a command: its ``decoding...=`` words, then the
    shortcut options (``--beam-size`` is ``decoding.beam_size``, ...). A shortcut without a
    ``decoding=`` word selects ``decoding=beam``. With neither: None, which the pipelines read as
    the package's recommended decoding (a bundled model's LM and beam settings), else greedy."""
    values = {k: getattr(args, k) for k in DECODING_FLAGS if getattr(args, k, None) is not None}
    if not values and not overrides:
        return None
    if getattr(args, "runtime", "torch") == "onnx":  # no Hydra in a runtime-only install
        from speech.runtime.asr import decoding_settings

        return decoding_settings(overrides, **values)
    # torch and Hydra: only when a command decodes
    from speech.pipelines.transcriber import decoding_config

    chosen = any(o.split("=", 1)[0] == "decoding" for o in overrides)
    return decoding_config((["decoding=beam"] if values and not chosen else []) + overrides, **values)


def segment_config(args: argparse.Namespace):
    from speech.runtime.segment import SegmentConfig

    return SegmentConfig(max_seconds=args.max_segment, search_seconds=min(4.0, args.max_segment / 4),
                         method=args.segment, min_pause=args.min_pause, pad_seconds=args.segment_pad,
                         speech_floor_db=args.speech_floor)


def _usage(msg: str) -> ValueError:
    """A usage error found after parsing: one line in argparse's form, exit status 2."""
    return ValueError(f"speech transcribe: {msg} (see speech transcribe --help)")


def _check_transcribe_usage(args: argparse.Namespace, paths: list[str], fmt: str) -> None:
    if not args.model:
        # the registry reads JSON, but its package imports torch
        from speech.packages.registry import known_models_text

        raise _usage("no --model given: recognition models are domain models (each knows one kind of speech), "
                     f"so none is picked for you; bundled recognizers: {known_models_text('asr')}; or a package "
                     "folder (--model PATH)")
    if args.vtln and (args.runtime == "onnx" or args.manifest):
        raise _usage("--vtln: " + ("the ONNX runtime has no warp; use --runtime torch" if args.runtime == "onnx"
                                   else "give the speaker's files as paths, not --manifest"))
    if args.manifest and paths:
        raise _usage("give audio inputs or --manifest FILE.jsonl, not both")
    if args.manifest and fmt != "json":
        raise _usage(f"--manifest writes JSON lines (its objects with pred_text); --format {fmt} is for audio inputs")
    if not args.manifest and not paths:
        raise _usage("no audio given: expected files, folders, glob patterns or - (stdin), or --manifest FILE.jsonl")
    if paths.count(STDIN) > 1:
        raise _usage("'-' (audio from stdin) given more than once")
    if fmt == "all" and not args.output_dir:
        raise _usage("--format all writes five files per input: it needs --output-dir DIR")


def _transcriber(args: argparse.Namespace, decoding):
    if args.runtime == "onnx":
        from speech.runtime.asr import OnnxTranscriber

        if args.device != "cpu":
            raise _usage(f"--device {args.device}: the ONNX runtime runs on the CPU; drop --device or use --runtime torch")
        return OnnxTranscriber(args.model, batch_size=args.batch_size, segment=segment_config(args),
                               decoding=decoding, threads=args.threads)
    from speech.pipelines.transcriber import Transcriber

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    return Transcriber(args.model, device=args.device, batch_size=args.batch_size, segment=segment_config(args),
                       decoding=decoding)


def _apply_vtln(tr, files: list[str]) -> None:
    """Estimate one warp from ``files`` (those that read; the others fail later, where every input is
    reported) with the decoding's lexicon words as the candidates, and give it to ``tr``."""
    from speech.audio import AudioError, load
    from speech.decoding.beam import read_lexicon_words
    from speech.pipelines.vtln import estimate_warp

    lexicon = tr.decoding.get("lexicon") if tr.decoding is not None else None
    if not lexicon:
        raise _usage("--vtln needs a closed vocabulary: a decoding with a lexicon (a package that recommends one, "
                     "e.g. --model digits, or decoding=beam decoding.lexicon=WORDS.txt)")
    wavs = []
    for f in files:
        try:
            wavs.append(load(f, tr.sample_rate)[0])
        except (AudioError, OSError):
            continue
    if not wavs:
        return
    try:
        est = estimate_warp(tr.pkg, wavs, read_lexicon_words(lexicon))
    except ValueError as e:
        errors.warning(f"--vtln: {e}; decoding without a warp")
        return
    tr.warp = est.warp
    print(f"vtln: warp {est.warp:.2f} from {est.clips} clip(s)", file=sys.stderr, flush=True)


def _status(failed: int, total: int, what: str = "inputs") -> int:
    if failed and total > 1:
        errors.error(f"{failed} of {total} {what} failed")
    if not failed:
        return errors.OK
    return errors.BAD_INPUT if failed == total else errors.BATCH_FAILED  # nothing done vs some done


def cmd_transcribe(args: argparse.Namespace) -> int:
    from speech.cli import outputs
    from speech.pipelines.results import Failure

    if args.stream:
        from speech.cli.stream import cmd_stream

        if args.vtln:
            raise _usage("--vtln estimates its warp from whole clips; it does not go with --stream")
        return cmd_stream(args)
    paths, overrides = split_decoding_overrides(args.paths)
    fmt = args.format or ("json" if args.manifest else "txt")
    _check_transcribe_usage(args, paths, fmt)
    decoding = decoding_from_args(args, overrides)
    if args.manifest:
        return _transcribe_manifest(args, decoding)
    files, problems = expand_inputs(paths)
    if len(files) > 1 and fmt in outputs.TIMED and not args.output_dir:
        raise _usage(f"{len(files)} inputs with --format {fmt}: {fmt} documents are one per input and never "
                     "concatenated on stdout; give --output-dir DIR for one file per input")
    out_dir = outputs.prepare_output_dir(args.output_dir) if args.output_dir else None
    names = outputs.output_names(files) if out_dir else {}
    for p in problems:
        errors.error(p)
    failed, total = len(problems), len(files) + len(problems)
    show_path = len(files) > 1 or len(paths) > 1
    progress = len(files) > 1 and sys.stderr.isatty() if args.progress is None else args.progress
    with stdin_audio(files) as (tmp, problem):
        if problem:
            errors.error(problem)
            failed += 1
        todo = [f for f in files if f != STDIN or tmp]
        tr = _transcriber(args, decoding)
        if args.vtln:
            _apply_vtln(tr, [tmp if f == STDIN else f for f in todo])
        results = tr.transcribe_files(
            [tmp if f == STDIN else f for f in todo], progress=progress,
            timestamps=args.timestamps or outputs.needs_timestamps(fmt)) if todo else []
        for given, r in zip(todo, results):
            r = as_stdin(r, tmp) if given == STDIN else r
            if isinstance(r, Failure):
                failed += 1
                errors.error(r.error)
                continue
            for w in r.warnings:
                errors.warning(w)
            failed += not outputs.emit(r, names.get(given), fmt, out_dir, show_path)
    return _status(failed, total)


def _transcribe_manifest(args: argparse.Namespace, decoding) -> int:
    """``--manifest``: each line's object with ``pred_text`` added, to stdout or DIR/<manifest name>."""
    from speech.cli import outputs
    from speech.pipelines.results import Failure

    lines = outputs.read_manifest_lines(args.manifest)
    out_path = None
    if args.output_dir:
        out_path = outputs.prepare_output_dir(args.output_dir) / Path(args.manifest).name
        if out_path.resolve() == Path(args.manifest).resolve():
            raise _usage(f"--output-dir {args.output_dir} holds {args.manifest} itself, which the output would "
                         "overwrite; expected another folder")
    good = [ln for ln in lines if ln.error is None]
    progress = len(good) > 1 and sys.stderr.isatty() if args.progress is None else args.progress
    results = iter(_transcriber(args, decoding).transcribe_files(
        [ln.audio for ln in good], progress=progress, timestamps=args.timestamps) if good else [])
    rows, failed = [], 0
    for ln in lines:
        text = words = None
        if ln.error is None:
            r = next(results)
            if isinstance(r, Failure):
                ln.error = r.error
            else:
                text, words = r.text, r.words
                for w in r.warnings:
                    errors.warning(f"{args.manifest}:{ln.lineno}: {w}")
        if ln.error:
            failed += 1
            errors.error(f"{args.manifest}:{ln.lineno}: {ln.error}")
        row = outputs.manifest_row(ln, text, words)
        if out_path is None:
            print(json.dumps(row, ensure_ascii=False), flush=True)
        else:
            rows.append(row)
    if out_path is not None:
        atomic_write_text(out_path, outputs.manifest_text(rows))
        print(f"{printable(args.manifest)}\t{printable(str(out_path))}", flush=True)
    return _status(failed, len(lines), "manifest lines")


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
