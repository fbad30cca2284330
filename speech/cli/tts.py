"""``speech`` commands for synthesis: each calls one pipeline (:mod:`speech.runtime.synthesis_batch` with
the torch :mod:`speech.pipelines.synthesis` or, with ``--runtime onnx``, :mod:`speech.runtime.tts`,
:mod:`speech.pipelines.vocode`, :mod:`speech.pipelines.evaluate_tts`) and prints what it yields.

Heavy modules (torch, the pipelines) are imported inside each command, so that ``speech --help``
and a usage error answer at once.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from speech.cli import errors
from speech.cli.models import print_table


def _option(name: str, value) -> str:
    """How a synthesis control is named in a message: by its option (``--pitch-shift 30``)."""
    return f"--{name.replace('_', '-')} {value:g}"


def _synthesis_text(args: argparse.Namespace) -> str:
    """The text to speak: TEXT, ``--text-file`` or stdin (``-``, or TEXT omitted and stdin not a terminal)."""
    if args.text_file:
        if args.text not in (None, "-"):
            raise ValueError("give the text either as TEXT or with --text-file, not both")
        try:
            text = Path(args.text_file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{args.text_file}: not UTF-8 text") from None
        except OSError as e:
            raise FileNotFoundError(f"{args.text_file}: cannot read ({e.strerror or e})") from None
    elif args.text is not None and args.text != "-":
        text = args.text
    else:
        stdin = sys.stdin
        if stdin is None or (args.text is None and stdin.isatty()):
            raise ValueError("no text: give TEXT, --text-file FILE, --batch FILE, or pipe the text on stdin ('-')")
        try:
            text = stdin.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read the text from stdin ({e})") from None
    if not text.strip():
        raise ValueError("nothing to synthesize: the text is empty")
    return text


def _check_options(args: argparse.Namespace) -> None:
    """Options that do not go together: one line each, before anything is loaded."""
    if args.batch and (args.text is not None or args.text_file):
        raise ValueError("--batch takes the texts from its file; give no TEXT or --text-file")
    if args.phonemes and (args.batch or args.output is not None or args.plot is not None):
        raise ValueError("--phonemes prints the phonemes of TEXT, --text-file or stdin instead of audio; "
                         "give no --batch, -o or --plot")
    if args.output == "-":
        if args.batch:
            raise ValueError("-o -: with --batch, -o names the output folder; stdout is for one text")
        if args.plot == "":
            raise ValueError("--plot: give the PNG's path when the audio goes to stdout (-o -)")
        if sys.stdout.isatty():
            raise ValueError("-o -: stdout is a terminal; redirect it (-o - > hello.wav) or pipe it (-o - | aplay)")


def _check_onnx_options(args: argparse.Namespace) -> None:
    """--runtime onnx needs an export (--model) and runs on the CPU."""
    if args.model is None:
        raise ValueError("--runtime onnx needs --model EXPORT_DIR, a voice exported to ONNX: make one with "
                         "'speech export kathleen --format onnx -o kathleen-onnx' (then --model kathleen-onnx)")
    if str(args.device) != "cpu":
        raise ValueError(f"--device {args.device}: --runtime onnx runs on the CPU; drop --device or use --runtime torch")


def _open_onnx(args: argparse.Namespace):
    """The ONNX synthesizer for --model (an export folder), without torch."""
    from speech.runtime.tts import OnnxSynthesizer

    return OnnxSynthesizer(args.model, vocoder=args.vocoder, threads=args.threads, gl_iters=args.gl_iters)


def _open_torch(args: argparse.Namespace):
    """The torch synthesizer for --model (a package or a bundled voice's name; None: the default voice)."""
    from speech.pipelines import synthesis

    if args.threads:
        import torch  # heavy: only on the torch path

        torch.set_num_threads(args.threads)
    return synthesis.open_synthesizer(args.model, vocoder=args.vocoder, device=args.device, gl_iters=args.gl_iters)


def _status(r, stream=None) -> None:
    for w in r.warnings:
        errors.warning(w)
    print(f"{'stdout' if str(r.path) == '-' else r.path}\t{r.duration:.2f} s\tRTF {r.rtf:.3f}",
          file=stream or sys.stdout, flush=True)


def cmd_synthesize(args: argparse.Namespace) -> int:
    """``speech synthesize``: text -> speech with the default voice or ``--model``.

    One text (TEXT, ``--text-file`` or stdin) -> the ``-o`` file (default ``<first words>.wav``),
    stdout (``-o -``) or its phonemes (``--phonemes``); ``--batch`` -> one file per line in the
    ``-o`` folder. Exit status 0, 1 when a batch line failed, 2 for a bad model / input.
    """
    if args.list_voices:
        return list_voices()
    _check_options(args)
    if args.runtime == "onnx":
        _check_onnx_options(args)
    if args.phonemes:  # the voice's phoneme set and the text front end only: no model, no torch
        if args.runtime == "onnx":
            lines, warnings = _open_onnx(args).phonemes(_synthesis_text(args))
        else:
            from speech.packages.frontend import open_voice_frontend

            lines, warnings = open_voice_frontend(args.model).phonemes(_synthesis_text(args))
        for w in warnings:
            errors.warning(w)
        print("\n".join(lines), flush=True)
        return errors.OK
    from speech.runtime import synthesis_batch as jobs  # torch-free: shared by both runtimes
    from speech.runtime.results import Failure
    from speech.runtime.synthesis import check_controls

    check_controls(args.speed, args.pitch_shift, args.energy_scale, label=_option,  # before any loading
                   sentence_silence=args.sentence_silence)
    if args.batch:
        batch = jobs.SynthesisBatch.read(args.batch)
    else:
        text = _synthesis_text(args)
    if args.runtime == "onnx":
        synth = _open_onnx(args)
    else:
        try:
            synth = _open_torch(args)
        except RuntimeError as e:  # torch's refusal of a model file: bad input, not a bug of the toolkit
            errors.error(errors.first_line(e))
            return errors.BAD_INPUT
    speaker = synth.check_speaker(args.speaker, label=_option)
    controls = {"speed": args.speed, "pitch_shift": args.pitch_shift, "energy_scale": args.energy_scale,
                "sentence_silence": args.sentence_silence}

    if not args.batch:
        if args.output == "-":  # the WAV alone on stdout; everything else on stderr
            r = jobs.synthesize_to_stream(synth, text, sys.stdout.buffer, plot=args.plot, speaker=speaker,
                                               **controls)
            _status(r, sys.stderr)
            return errors.OK
        plot = None if args.plot is None else Path(args.plot) if args.plot else True
        r = jobs.synthesize_to_file(synth, text, args.output, plot=plot, speaker=speaker, **controls)
        _status(r)
        if r.plot is not None:
            print(f"plot: {r.plot}", file=sys.stderr)
        return errors.OK

    out_dir = args.output or "."
    plot_dir = None if args.plot is None else Path(args.plot) if args.plot else Path(out_dir)
    for r in batch.run(synth, out_dir, plot_dir, speaker=args.speaker, **controls):
        if isinstance(r, Failure):
            errors.error(r.error)
        else:
            _status(r)
    print(batch.summary(), flush=True)
    if batch.failed:
        errors.error(f"{batch.failed} of {batch.written + batch.failed} lines failed")
    return errors.BATCH_FAILED if batch.failed else errors.OK


def _voice_speakers(path: Path) -> str:
    """How many speakers a voice package has (``model.tts.n_speakers`` of its config.yaml), as text."""
    import yaml  # read as plain data: listing builds nothing

    try:
        cfg = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
        n = ((cfg.get("model") or {}).get("tts") or {}).get("n_speakers", 1)
        return str(int(n))
    except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError):
        return "?"


def list_voices() -> int:
    """``speech synthesize --list-voices``: the bundled voices, the default one marked."""
    from speech.packages.registry import list_models

    voices = list_models("tts")
    if not voices:
        errors.warning("no bundled voices are installed; give --model a voice package folder "
                       "(output_dir/model of a TTS training run)")
        return errors.OK
    rows = [("NAME", "SPEAKERS", "SIZE", "DOMAIN", "MEASURED")]
    for m in voices:
        name = m.name + (" (default)" if m.default else "")
        rows.append((name, _voice_speakers(m.path), f"{m.size_mb:.1f} MB", m.domain, m.measured))
    print_table(rows)
    return errors.OK


def _num(x, fmt: str) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def cmd_evaluate_tts(args: argparse.Namespace) -> int:
    """``speech evaluate-tts``: synthesize a voice's held-out prompts and score them against the
    real recordings (MCD, F0 RMSE, voicing error, RTF, recognizer WER real vs synthesized)."""
    ids = args.ids.split(",") if args.ids else None
    recognizer = None if args.no_asr else "auto"
    if args.copy_synthesis:
        from speech.pipelines.vocode import evaluate_vocoder_on_voice

        r = evaluate_vocoder_on_voice(args.model, args.vocoder, corpus=args.corpus, ids=ids, limit=args.limit,
                                      out_dir=args.out, recognizer=recognizer, progress=not args.quiet,
                                      device=args.device)
    else:
        from speech.pipelines.evaluate_tts import evaluate_voice

        r = evaluate_voice(args.model, args.corpus, ids=ids, out_dir=args.out, vocoder=args.vocoder,
                           recognizer=recognizer, limit=args.limit, progress=not args.quiet, device=args.device)
    rows = [("utterances", f"{r['utterances']} ({r['selection']}"
             + (f"; {len(r['skipped'])} skipped)" if r["skipped"] else ")")),
            ("MCD WORLD (standard)", f"{_num(r.get('mcd_world_db', float('nan')), '.2f')} dB"),
            ("MCD mel-fbank", f"{_num(r['mcd_db'], '.2f')} dB"),
            ("F0 RMSE", f"{_num(r['f0_rmse_hz'], '.1f')} Hz, {_num(r['f0_rmse_cents'], '.0f')} cents "
                        f"({r['f0_utterances']} utterances with F0)"),
            ("voicing error", _num(r["vde"], ".3f")),
            ("RTF", f"{_num(r['rtf'], '.3f')} ({r['synth_seconds']:.1f} s for {r['audio_seconds']:.1f} s of audio)")]
    if "wer_real" in r:
        rows.append(("recognizer WER", f"real {100 * r['wer_real']:.1f} %, synthesized {100 * r['wer_synth']:.1f} %"))
    else:
        rows.append(("recognizer WER", "skipped (--no-asr or pocketsphinx not installed)"))
    rows.append(("report", f"{r['report_json']}, {r['report_tsv']}, {r['wav_dir']}/"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return errors.OK


def cmd_train_vocoder(args: argparse.Namespace) -> int:
    """Train a HiFi-GAN vocoder on a synthesis corpus (Hydra overrides; the `vocoder` group)."""
    from speech.config import compose, to_yaml
    from speech.train.vocoder import train_vocoder

    cfg = compose(args.overrides)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return errors.OK
    result, package = train_vocoder(cfg)
    if package is not None:
        print(f"vocoder package: {package}")
        if result.best_metric is not None:
            print(f"best dev mel L1: {result.best_metric:.4f} after {result.steps} steps, {result.seconds / 60:.1f} min")
    return errors.OK


def cmd_vocode(args: argparse.Namespace) -> int:
    """Copy synthesis: audio -> log-mel (the vocoder's mel config) -> audio, or a saved mel (.npy,
    (T, n_mels) natural-log mel power) -> audio; judges a vocoder on its own."""
    import torch  # heavy: only for this command

    from speech.pipelines.vocode import open_vocoder, vocode_file

    if args.threads:
        torch.set_num_threads(args.threads)
    r = vocode_file(open_vocoder(args.vocoder, device=args.device), args.input, args.output)
    line = f"{args.output}\t{r.duration:.2f} s\tRTF {r.rtf:.3f}"
    if r.mel_l1 is not None:
        line += f"\tlog-mel L1 {r.mel_l1:.3f}"
    print(line)
    return errors.OK
