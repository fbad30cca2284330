"""``speech``: train, prepare corpora, transcribe audio.

Examples::

    speech prepare fsdd ../shared/data/fsdd data/fsdd
    speech train experiment=fsdd trainer.max_epochs=10
    speech transcribe recordings/*.wav --model exp/fsdd/model
    speech transcribe meeting.wav --model exp/fsdd/model --format json
    speech evaluate --model exp/fsdd/model data/fsdd/test.jsonl
    speech lm ../shared/data/text/ljspeech_metadata_all.csv exp/lm/ljspeech3.arpa --order 3
    speech evaluate --model exp/fsdd/model data/fsdd/test.jsonl --lm exp/lm/digits.arpa --beam-size 16
    speech align-dataset --model exp/fsdd/model data/fsdd/train.jsonl exp/fsdd/train_align.jsonl
    speech train experiment=fsdd loss=ce data.alignments=exp/fsdd/train_align.jsonl output_dir=exp/fsdd-ce
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import re
import sys
from pathlib import Path

from speech.cli import errors
from speech.cli.errors import printable

log = logging.getLogger("speech")


def _setup_logging(verbose: bool = False) -> None:
    rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if verbose else (logging.INFO if rank == 0 else logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


_error = errors.error
_warning = errors.warning


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors in the toolkit's one-line form (exit status 2)."""

    def error(self, message: str):
        errors.error(f"{self.prog}: {message} (see {self.prog} --help)")
        raise SystemExit(errors.BAD_INPUT)


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse type: a finite int/float within [low, high] (low excluded with ``low_open``)."""
    import math

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


_COUNT = _number(int, 1)             # sizes and counts: 1, 2, ...
_SECONDS = _number(float, 0, low_open=True)
_FINITE = _number(float)


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
            print(f"best dev {cfg.get('monitor', 'wer')}: {result.best_metric:.4f} after {result.steps} steps, "
                  f"{result.seconds / 60:.1f} min")
    return 0


# --------------------------------------------------------------------------- prepare
def cmd_prepare(args: argparse.Namespace) -> int:
    from speech.data.prepare import prepare

    outputs = prepare(args.corpus, args.src, args.out, force=args.force)
    from speech.data.manifest import read_manifest, total_duration

    for split, path in outputs.items():
        utts = read_manifest(path)
        print(f"{split}: {len(utts)} utterances, {total_duration(utts) / 60:.1f} min -> {path}")
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


def beam_decoder(tokenizer, args: argparse.Namespace):
    """CTC prefix beam search from the command-line options (--lm, --beam-size, --lm-weight, ...)."""
    from speech.decoding.beam import BeamSearchConfig, CTCPrefixBeamSearch
    from speech.decoding.lm import ArpaLM

    lm = ArpaLM.load(args.lm) if args.lm else None
    cfg = BeamSearchConfig(beam_size=max(args.beam_size, 1), lm_weight=args.lm_weight, word_bonus=args.word_bonus,
                           lexicon=args.lexicon)
    return CTCPrefixBeamSearch(tokenizer.vocab, lm=lm, cfg=cfg, blank=tokenizer.blank_id)


def add_decoding_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam-size", type=_COUNT, default=1, help="CTC prefix beam search width (1 = greedy, unless --lm)")
    p.add_argument("--lm", help="word n-gram language model in ARPA format (speech lm TEXT OUT.arpa)")
    p.add_argument("--lm-weight", type=_FINITE, default=0.5, help="weight of the LM's log-probability")
    p.add_argument("--word-bonus", type=_FINITE, default=1.0, help="score added per word (counters the LM's short bias)")
    p.add_argument("--lexicon", help="word list: only these words may be output")


def add_segment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-segment", type=_number(float, 1.0), default=20.0,
                   help="recordings longer than this many seconds are cut into segments of at most this length")
    p.add_argument("--segment", choices=("pause", "window"), default="pause",
                   help="pause: cut long recordings at every pause (energy voice activity); window: fixed "
                        "windows cut at their quietest point")
    p.add_argument("--min-pause", type=_SECONDS, default=0.3, help="shortest pause (seconds) that separates segments")
    p.add_argument("--speech-floor", type=_number(float, -120.0, 0.0, low_open=True), default=-70.0, metavar="DB",
                   help="audio whose loudest 20 ms frame is below this level (dBFS) holds no speech and is not "
                        "decoded (default -70; lower it for very quiet recordings)")
    p.add_argument("--segment-pad", type=_number(float, 0.0), default=0.1,
                   help="seconds of each pause kept around a segment's speech (0 suits models trained on "
                        "clips trimmed to the word, such as FSDD)")


def segment_config(args: argparse.Namespace):
    from speech.pipelines.segment import SegmentConfig

    return SegmentConfig(max_seconds=args.max_segment, search_seconds=min(4.0, args.max_segment / 4),
                         method=args.segment, min_pause=args.min_pause, pad_seconds=args.segment_pad,
                         speech_floor_db=args.speech_floor)


# -------------------------------------------------------------------------------- lm
def cmd_lm(args: argparse.Namespace) -> int:
    from speech.decoding.lm import ArpaLM, build_lm

    build_lm(args.text, args.out, order=args.order, method=args.method, normalize=not args.no_normalize)
    lm = ArpaLM.load(args.out)
    print(f"{args.out}: order {lm.order}, vocabulary {len(lm.vocab)} words")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from speech.pipelines import Failure, Transcriber
    from speech.packages.format import PackageError

    files, problems = expand_inputs(args.paths)
    for p in problems:
        _error(p)
    tr = Transcriber(args.model, device=args.device, batch_size=args.batch_size, segment=segment_config(args))
    if args.lm or args.beam_size > 1 or args.lexicon:
        tr.decoder = beam_decoder(tr.pkg.tokenizer, args)
    failed = len(problems)
    show_path = len(files) > 1 or len(args.paths) > 1
    progress = len(files) > 1 and sys.stderr.isatty() if args.progress is None else args.progress
    timestamps = args.timestamps or args.format in ("srt", "vtt")
    for r in tr.transcribe_files(files, progress=progress, timestamps=timestamps):
        if isinstance(r, Failure):
            failed += 1
            _error(r.error)
            continue
        for w in getattr(r, "warnings", None) or ():
            _warning(w)
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
    total = len(files) + len(problems)
    if failed and total > 1:
        _error(f"{failed} of {total} inputs failed")
    if not failed:
        return errors.OK
    return errors.BAD_INPUT if failed == total else errors.BATCH_FAILED  # nothing done vs some done


# -------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from speech.pipelines.evaluate_asr import evaluate_manifest

    from speech.pipelines import Transcriber

    tr = Transcriber(args.model, device=args.device, batch_size=args.batch_size)
    if args.lm or args.beam_size > 1 or args.lexicon:
        tr.decoder = beam_decoder(tr.pkg.tokenizer, args)
    report = evaluate_manifest(tr, args.manifest, output=args.output, progress=not args.quiet)
    print(json.dumps(report.summary(), indent=2))
    return 0


TRAIN_HELP = """Train a model from a composed Hydra config (conf/ in the repository, speech.conf when installed).

examples:
  speech train experiment=fsdd
  speech train experiment=fsdd trainer.max_epochs=5 model.asr.hidden_size=128 output_dir=exp/small
  speech train experiment=fsdd --print-config
  torchrun --nproc_per_node 2 -m speech.cli.main train experiment=fsdd trainer=ddp
Re-running the same command resumes from output_dir/checkpoints/last.pt."""


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


# ---------------------------------------------------------------------- align-dataset
def cmd_align_dataset(args: argparse.Namespace) -> int:
    from speech.pipelines.alignment import align_manifest

    summary = align_manifest(args.model, args.manifest, args.out, batch_size=args.batch_size, device=args.device,
                             progress=not args.quiet)
    print(f"aligned {summary['aligned']} utterances ({summary['skipped']} skipped) -> {summary['out']}")
    return 0


# ------------------------------------------------------------------------ synthesize
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _read_batch(path: str) -> tuple[list[tuple[int, str, str]], list[str]]:
    """``id<TAB>text`` or ``id|text`` lines -> ([(line number, id, text)], [problems])."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise FileNotFoundError(f"{path}: cannot read the batch file ({e.strerror or e})") from None
    items, problems, seen = [], [], {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        sep = "\t" if "\t" in line else "|" if "|" in line else None
        if sep is None:
            problems.append(f"{path}:{n}: expected 'id<TAB>text' or 'id|text', got {line[:60]!r}")
            continue
        uid, text = line.split(sep, 1)
        uid, text = uid.strip(), text.strip()
        if not uid:
            problems.append(f"{path}:{n}: empty id")
        elif not _SAFE_ID.match(uid):
            problems.append(f"{path}:{n}: id {uid[:60]!r} is not usable as a file name (letters, digits, '.', "
                            "'_', '-'; not starting with '.' or '-')")
        elif uid in seen:
            problems.append(f"{path}:{n}: duplicate id {uid!r} (first on line {seen[uid]})")
        elif not text:
            seen[uid] = n
            problems.append(f"{path}:{n}: {uid}: empty text")
        else:
            seen[uid] = n
            items.append((n, uid, text))
    return items, problems


def _synthesis_text(args: argparse.Namespace) -> str:
    if args.text_file:
        if args.text not in (None, "-"):
            raise ValueError("give the text either as TEXT or with --text-file, not both")
        try:
            return Path(args.text_file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{args.text_file}: not UTF-8 text") from None
        except OSError as e:
            raise FileNotFoundError(f"{args.text_file}: cannot read ({e.strerror or e})") from None
    if args.text is not None and args.text != "-":
        return args.text
    stdin = sys.stdin
    if stdin is None or (args.text is None and stdin.isatty()):
        raise ValueError("no text: give TEXT, --text-file FILE, --batch FILE, or pipe the text on stdin ('-')")
    try:
        return stdin.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read the text from stdin ({e})") from None


def _report_unreadable(res, prefix: str = "") -> None:
    if res.unknown:
        _warning(f"{prefix}could not pronounce (skipped): {' '.join(res.unknown)}")
    if res.guessed:
        _warning(f"{prefix}not in the dictionary, guessed: {', '.join(w for w, _ in res.guessed)}")
    if res.skipped:
        _warning(f"{prefix}{len(res.skipped)} sentence(s) with nothing to pronounce skipped: "
                 + " | ".join(s[:40] for s in res.skipped[:5]))


def _cannot_write(path: Path, e: Exception) -> str:
    why = errors.first_line(e)
    if why.startswith(f"{path}: "):  # the audio writer names the file already
        why = why[len(f"{path}: "):]
    return f"{path}: {why}" if why.startswith("cannot write") else f"{path}: cannot write ({why})"


def _check_controls(args: argparse.Namespace) -> None:
    import math

    from speech.pipelines.synthesizer import PITCH_SHIFT_RANGE, SPEED_RANGE

    if not (math.isfinite(args.speed) and SPEED_RANGE[0] <= args.speed <= SPEED_RANGE[1]):
        raise ValueError(f"--speed {args.speed:g}: expected a value in [{SPEED_RANGE[0]:g}, {SPEED_RANGE[1]:g}]")
    if not PITCH_SHIFT_RANGE[0] <= args.pitch_shift <= PITCH_SHIFT_RANGE[1]:
        raise ValueError(f"--pitch-shift {args.pitch_shift:g}: expected semitones in "
                         f"[{PITCH_SHIFT_RANGE[0]:g}, {PITCH_SHIFT_RANGE[1]:g}]")
    if not 0.0 < args.energy_scale <= 4.0:
        raise ValueError(f"--energy-scale {args.energy_scale:g}: expected a value in (0, 4]")
    if args.gl_iters < 0:
        raise ValueError(f"--gl-iters {args.gl_iters}: expected >= 0")


def cmd_synthesize(args: argparse.Namespace) -> int:
    """``speech synthesize``: text -> speech with a voice package.

    One text (TEXT, ``--text-file`` or stdin) -> the ``-o`` file; ``--batch`` -> one file per line
    in the ``-o`` folder. Exit status 0, 1 when a batch line failed, 2 for a bad model / input.
    """
    from speech.audio.io import save
    from speech.packages.format import PackageError
    from speech.pipelines.synthesizer import Synthesizer, plot_synthesis
    from speech.packages.voice import load_tts_package
    from speech.packages.vocoder import load_vocoder

    try:
        _check_controls(args)
        if args.batch:
            if args.text is not None or args.text_file:
                raise ValueError("--batch takes the texts from its file; give no TEXT or --text-file")
            items, problems = _read_batch(args.batch)
            if not items and not problems:
                raise ValueError(f"{args.batch}: no lines to synthesize")
        else:
            text = _synthesis_text(args)
            if not text.strip():
                raise ValueError("nothing to synthesize: the text is empty")
        pkg = load_tts_package(args.model, args.device)
        vocoder = load_vocoder(args.vocoder, pkg.fbank, n_iter=args.gl_iters)
        synth = Synthesizer(pkg, vocoder=vocoder, device=args.device)
    except (PackageError, RuntimeError) as e:
        _error(str(e).splitlines()[0])
        return 2
    controls = {"speed": args.speed, "pitch_shift": args.pitch_shift, "energy_scale": args.energy_scale}
    hop = pkg.fbank.hop_ms / 1000.0

    if not args.batch:
        out = Path(args.output)
        if out.is_dir():
            raise ValueError(f"{out}: is a folder; -o names the output audio file (folders are for --batch)")
        res = synth.synthesize(text, **controls)
        _report_unreadable(res)
        try:
            save(out, res.wav, res.sample_rate)
        except Exception as e:  # noqa: BLE001 - unknown extension, unwritable folder, ...
            _error(_cannot_write(out, e))
            return 2
        print(f"{out}\t{res.duration:.2f} s\tRTF {res.rtf:.3f}", flush=True)
        if args.plot is not None:
            png = Path(args.plot) if args.plot else out.with_suffix(".png")
            print(f"plot: {plot_synthesis(res, png, hop)}", file=sys.stderr)
        return 0

    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: not a folder; with --batch, -o names the output folder")
    plot_dir = None if args.plot is None else Path(args.plot) if args.plot else out_dir
    for p in problems:
        _error(p)
    failed, written, audio, seconds = len(problems), 0, 0.0, 0.0
    for n, uid, text in items:
        try:
            res = synth.synthesize(text, **controls)
        except ValueError as e:
            failed += 1
            _error(f"{args.batch}:{n}: {uid}: {str(e).splitlines()[0]}")
            continue
        _report_unreadable(res, prefix=f"{args.batch}:{n}: {uid}: ")
        path = out_dir / f"{uid}.wav"
        try:
            save(path, res.wav, res.sample_rate)
            if plot_dir is not None:
                plot_synthesis(res, plot_dir / f"{uid}.png", hop)
        except Exception as e:  # noqa: BLE001
            failed += 1
            _error(f"{args.batch}:{n}: {_cannot_write(path, e)}")
            continue
        written += 1
        audio += res.duration
        seconds += res.seconds
        print(f"{path}\t{res.duration:.2f} s\tRTF {res.rtf:.3f}", flush=True)
    rtf = seconds / audio if audio > 0 else float("nan")
    print(f"{written} written, {failed} failed, {audio:.1f} s of audio, RTF {rtf:.3f}", flush=True)
    if failed:
        _error(f"{failed} of {written + failed} lines failed")
    return 1 if failed else 0


# ----------------------------------------------------------------------- evaluate-tts
def cmd_evaluate_tts(args: argparse.Namespace) -> int:
    """``speech evaluate-tts``: synthesize a voice's held-out prompts and score them against the
    real recordings (MCD, F0 RMSE, voicing error, RTF, recognizer WER real vs synthesized)."""
    import math

    from speech.packages.format import PackageError
    from speech.pipelines.evaluate_tts import evaluate_voice

    try:
        if args.copy_synthesis:
            from speech.pipelines.evaluate_tts import evaluate_copy_synthesis
            from speech.packages.voice import load_tts_package

            pkg = load_tts_package(args.model)
            ids = args.ids.split(",") if args.ids else list(pkg.meta.get("test_ids", []))
            corpus = args.corpus or pkg.meta.get("corpus")
            if not corpus:
                raise ValueError(f"{pkg.path}: meta.json names no corpus; give --corpus")
            r = evaluate_copy_synthesis(args.vocoder, corpus, ids[: args.limit] if args.limit else ids,
                                        args.out or pkg.path.parent / "copy_synthesis_eval",
                                        recognizer=None if args.no_asr else "auto", progress=not args.quiet)
            r.update({"selection": "copy synthesis of the package's held-out recordings", "skipped": [],
                      "wav_dir": str(Path(r["report_json"]).parent / "wavs")})
        else:
            r = evaluate_voice(args.model, args.corpus, ids=args.ids.split(",") if args.ids else None,
                               out_dir=args.out, vocoder=args.vocoder, recognizer=None if args.no_asr else "auto",
                               limit=args.limit, progress=not args.quiet, device=args.device)
    except PackageError as e:
        _error(str(e).splitlines()[0])
        return 2

    def num(x: float, fmt: str) -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)

    rows = [("utterances", f"{r['utterances']} ({r['selection']}"
             + (f"; {len(r['skipped'])} skipped)" if r["skipped"] else ")")),
            ("MCD", f"{num(r['mcd_db'], '.2f')} dB"),
            ("F0 RMSE", f"{num(r['f0_rmse_hz'], '.1f')} Hz, {num(r['f0_rmse_cents'], '.0f')} cents "
                        f"({r['f0_utterances']} utterances with F0)"),
            ("voicing error", num(r["vde"], ".3f")),
            ("RTF", f"{num(r['rtf'], '.3f')} ({r['synth_seconds']:.1f} s for {r['audio_seconds']:.1f} s of audio)")]
    if "wer_real" in r:
        rows.append(("recognizer WER", f"real {100 * r['wer_real']:.1f} %, synthesized {100 * r['wer_synth']:.1f} %"))
    else:
        rows.append(("recognizer WER", "skipped (--no-asr or pocketsphinx not installed)"))
    rows.append(("report", f"{r['report_json']}, {r['report_tsv']}, {r['wav_dir']}/"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


SYNTHESIZE_HELP = """Synthesize speech from text with a voice package (output_dir/model of a TTS training run).

The text is split into sentences, long sentences are cut at pauses, so any length works.
Characters that cannot be pronounced and words guessed by the letter-to-sound fallback are
reported on stderr; the output path, audio duration and real-time factor go to stdout.

text sources (one of):
  TEXT                  the text itself ('-': read stdin; omitted: stdin when it is not a terminal)
  --text-file FILE      a UTF-8 text file
  --batch FILE          one utterance per line, 'id<TAB>text' or 'id|text' ('#' comments and blank
                        lines ignored): writes -o DIR/<id>.wav; bad lines (no separator, empty or
                        duplicate id, id unusable as a file name, nothing to pronounce) are reported
                        with their line number and the rest is synthesized; exit status 1 if any failed

examples:
  speech synthesize "Hello world. How are you?" -o hello.wav --model exp/kathleen/model
  echo "Read from stdin." | speech synthesize -o out.wav --model exp/kathleen/model --speed 1.2
  speech synthesize --text-file chapter.txt -o chapter.wav --model exp/kathleen/model --plot chapter.png
  speech synthesize --batch prompts.tsv -o wavs/ --model exp/kathleen/model --plot

exit status: 0 ok; 1 some --batch lines failed; 2 bad model, options or text (one-line error)."""

EVALUATE_TTS_HELP = """Objective evaluation of a voice package on held-out prompts of its corpus.

Synthesizes each held-out prompt (the package's test_ids from training, else a 5 % held-out split,
or --ids), and compares it with the real recording: mel-cepstral distortion (MCD, dB, after DTW),
F0 RMSE (Hz and cents), voicing decision error, real-time factor, and the word error rate of an
independent recognizer (PocketSphinx, the 'eval' extra) on the real and the synthesized audio.
Writes OUT/tts_eval.json, OUT/tts_eval.tsv and OUT/wavs/<id>.wav.

examples:
  speech evaluate-tts --model exp/kathleen/model
  speech evaluate-tts --model exp/kathleen/model --corpus ../shared/data/kathleen --limit 20 --no-asr
  speech evaluate-tts --model exp/kathleen/model --copy-synthesis --vocoder exp/kathleen/vocoder/model"""


# --------------------------------------------------------------------------- vocoder
def cmd_train_vocoder(args: argparse.Namespace) -> int:
    """Train a HiFi-GAN vocoder on a synthesis corpus (Hydra overrides; the `vocoder` group)."""
    from speech.config import compose, to_yaml
    from speech.train.vocoder import train_vocoder

    cfg = compose(args.overrides)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0
    result, package = train_vocoder(cfg)
    if package is not None:
        print(f"vocoder package: {package}")
        if result.best_metric is not None:
            print(f"best dev mel L1: {result.best_metric:.4f} after {result.steps} steps, {result.seconds / 60:.1f} min")
    return 0


def cmd_vocode(args: argparse.Namespace) -> int:
    """Copy synthesis: audio -> log-mel (the vocoder's mel config) -> audio, or a saved mel (.npy,
    (T, n_mels) natural-log mel power) -> audio; judges a vocoder on its own."""
    import time

    import numpy as np
    import torch

    from speech.audio import load, save
    from speech.features.functional import log_mel
    from speech.features import tts_fbank
    from speech.packages.vocoder import load_vocoder

    if args.threads:
        torch.set_num_threads(args.threads)
    vocoder = load_vocoder(args.vocoder, tts_fbank()) if args.vocoder.lower() in ("griffin-lim", "gl") else None
    if vocoder is None:
        from speech.packages.vocoder import HiFiGANVocoder

        vocoder = HiFiGANVocoder.from_package(args.vocoder, device=args.device)
    src = Path(args.input)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: input not found (expected an audio file or a .npy log-mel)")
    if src.suffix.lower() == ".npy":
        try:
            mel = torch.from_numpy(np.load(src, allow_pickle=False)).float()
        except (OSError, ValueError) as e:
            raise ValueError(f"{src}: not a numpy array file ({e})") from None
        if mel.dim() != 2 or mel.shape[1] != vocoder.fbank.n_mels:
            raise ValueError(f"{src}: mel has shape {tuple(mel.shape)}; expected (T, {vocoder.fbank.n_mels})")
    else:
        wav, _ = load(src, sample_rate=vocoder.sample_rate)
        mel = log_mel(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)), vocoder.fbank)
    t0 = time.perf_counter()
    out = vocoder(mel)
    seconds = time.perf_counter() - t0
    save(args.output, out.cpu().numpy(), vocoder.sample_rate)
    dur = out.numel() / vocoder.sample_rate
    line = f"{args.output}\t{dur:.2f} s\tRTF {seconds / max(dur, 1e-9):.3f}"
    if src.suffix.lower() != ".npy":
        back = log_mel(out.float().cpu(), vocoder.fbank)
        n = min(back.shape[0], mel.shape[0])
        line += f"\tlog-mel L1 {float((back[:n] - mel[:n]).abs().mean()):.3f}"
    print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="speech", description="Speech recognition and synthesis toolkit.",
                                 epilog=errors.EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    ap.add_argument("--debug", action="store_true", help="show the traceback of an error (also SPEECH_DEBUG=1)")
    # the same two switches after the command name (speech transcribe ... --debug); SUPPRESS keeps a
    # switch given before the command from being reset by the subcommand's default
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error (also SPEECH_DEBUG=1)")
    sub = ap.add_subparsers(dest="command", required=True)
    _add_parser = sub.add_parser

    def add_parser(name, **kw):
        kw.setdefault("parents", [common])
        if "epilog" not in kw and kw.get("formatter_class") is argparse.RawDescriptionHelpFormatter:
            kw["epilog"] = errors.EXIT_STATUS_HELP
        return _add_parser(name, **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    p = sub.add_parser("train", help="train a model (Hydra overrides: experiment=fsdd trainer.max_epochs=5 ...)",
                       description=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=fsdd model.asr.hidden_size=256")
    p.add_argument("--print-config", action="store_true", help="print the composed config and exit")
    p.add_argument("--skip-bad", action="store_true",
                   help="train on without manifest lines that fail their checks, listing them in "
                        "output_dir/skipped.jsonl (same as data.skip_bad=true)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("prepare", help="import a corpus from its own layout into JSON-lines manifests")
    p.add_argument("corpus", help="fsdd, an4, ljspeech, librispeech, folder or table")
    p.add_argument("src", help="the corpus folder (or the .tsv/.csv file for 'table')")
    p.add_argument("out", help="output folder for <split>.jsonl")
    p.add_argument("--force", action="store_true", help="redo even if the manifests are up to date")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("transcribe", help="transcribe audio files, folders or glob patterns")
    p.add_argument("paths", nargs="+", help="audio files, folders (searched recursively) or glob patterns")
    p.add_argument("--model", required=True, help="model package folder (output_dir/model of a training run)")
    p.add_argument("--format", choices=["txt", "json", "srt", "vtt"], default="txt",
                   help="txt: the text (path<TAB>text for several files); json: one JSON object per line "
                        "(with words and their times under --timestamps); srt / vtt: subtitles")
    p.add_argument("--timestamps", action="store_true",
                   help="word start/end times and confidences (from aligning the decoded text)")
    p.add_argument("--output-dir", help="srt/vtt: write one subtitle file per input here instead of stdout")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--batch-size", type=_COUNT, default=16, help="files (or segments of a long file) decoded together")
    add_segment_args(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when several files and stderr is a terminal)")
    add_decoding_args(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("lm", help="train a word n-gram LM (ARPA) from a text file, one sentence per line")
    p.add_argument("text", help="text file (for a |-separated LJSpeech metadata file the last column is used)")
    p.add_argument("out", help="output .arpa file")
    p.add_argument("--order", type=_number(int, 1, 9), default=3)
    p.add_argument("--method", default="kneser-ney", choices=["kneser-ney", "witten-bell"])
    p.add_argument("--no-normalize", action="store_true", help="keep the text as is (default: ASR normalization)")
    p.set_defaults(func=cmd_lm)

    p = sub.add_parser("align", help="word and token time spans of a transcript in a recording (JSON + TextGrid)")
    p.add_argument("audio", help="the recording")
    p.add_argument("text", help="its transcript, or a file holding it")
    p.add_argument("--model", required=True, help="CTC model package")
    p.add_argument("--out", help="output path without extension (default: beside the audio)")
    p.add_argument("--device", default="cpu")
    add_segment_args(p)
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("align-dataset", help="frame labels for CE training: Viterbi-align a manifest with a CTC model")
    p.add_argument("manifest", help="JSON-lines manifest with transcripts")
    p.add_argument("out", help="output JSON lines of run-length encoded frame labels (vocabulary saved beside it)")
    p.add_argument("--model", required=True, help="CTC model package")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=_COUNT, default=16)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_align_dataset)

    p = sub.add_parser("evaluate", help="WER / CER / real-time factor of a model on a manifest")
    p.add_argument("manifest", help="JSON-lines manifest with reference texts")
    p.add_argument("--model", required=True, help="model package folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=_COUNT, default=16)
    p.add_argument("--output", help="write per-utterance hypotheses (JSON lines) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_decoding_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("synthesize", help="text -> speech with a voice package (one text, a file, stdin or a batch)",
                       description=SYNTHESIZE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="?", metavar="TEXT",
                   help="text to speak; '-' reads stdin (also when omitted and stdin is not a terminal)")
    p.add_argument("-o", "--output", required=True,
                   help="output audio file (.wav, .flac, ...); with --batch, the output folder")
    p.add_argument("--model", required=True, help="voice package folder (output_dir/model of a TTS training run)")
    p.add_argument("--text-file", metavar="FILE", help="read the text from this UTF-8 file")
    p.add_argument("--batch", metavar="FILE",
                   help="synthesize each 'id<TAB>text' or 'id|text' line to OUTPUT/<id>.wav (-o is a folder)")
    p.add_argument("--vocoder", default="griffin-lim", help="griffin-lim (default) or a trained vocoder package folder (speech train-vocoder)")
    p.add_argument("--gl-iters", type=_number(int, 0), default=32,
                   help="Griffin-Lim iterations: fewer is faster and rougher (default 32)")
    p.add_argument("--speed", type=_FINITE, default=1.0, help="speaking rate: >1 faster, <1 slower (0.25-4)")
    p.add_argument("--pitch-shift", type=_FINITE, default=0.0, metavar="SEMITONES",
                   help="raise (or lower, negative) the predicted pitch by this many semitones")
    p.add_argument("--energy-scale", type=_FINITE, default=1.0, help="multiply the predicted energy (0-4]")
    p.add_argument("--plot", nargs="?", const="", metavar="PATH",
                   help="PNG of the mel spectrogram, phoneme durations and pitch: at PATH (default: OUTPUT "
                        "with .png); with --batch PATH is a folder for <id>.png (default: the -o folder)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("evaluate-tts", help="MCD / F0 RMSE / RTF / recognizer WER of a voice on held-out prompts",
                       description=EVALUATE_TTS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="voice package folder")
    p.add_argument("--corpus", help="corpus folder (audio + .txt, or LJSpeech layout); default: the package's "
                                    "training corpus (meta.json)")
    p.add_argument("--out", help="report folder (default: tts_eval beside the package folder)")
    p.add_argument("--ids", help="comma-separated utterance ids (default: the package's held-out test ids)")
    p.add_argument("--vocoder", default="griffin-lim", help="griffin-lim (default) or a vocoder package folder")
    p.add_argument("--limit", type=_COUNT, help="evaluate at most N utterances")
    p.add_argument("--no-asr", action="store_true", help="skip the recognizer WER (PocketSphinx)")
    p.add_argument("--copy-synthesis", action="store_true",
                   help="judge the vocoder alone: the held-out recordings' own mels -> --vocoder -> audio")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate_tts)

    p = sub.add_parser("train-vocoder", help="train a HiFi-GAN vocoder (Hydra overrides: experiment=kathleen ...)",
                       description="Train a HiFi-GAN vocoder on the synthesis corpus of the composed config "
                                   "(groups vocoder/, tts/, features/, trainer/). Examples:\n"
                                   "  speech train-vocoder experiment=kathleen vocoder.preset=v3\n"
                                   "  speech train-vocoder experiment=kathleen vocoder.mels=teacher_forced "
                                   "vocoder.acoustic_model=exp/kathleen/model vocoder.init_from=exp/kathleen/vocoder/model",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    p.add_argument("--print-config", action="store_true", help="print the composed config and exit")
    p.set_defaults(func=cmd_train_vocoder)

    p = sub.add_parser("vocode", help="copy synthesis: audio (or a .npy log-mel) -> mel -> audio with a vocoder")
    p.add_argument("input", help="audio file, or a .npy (T, n_mels) log-mel")
    p.add_argument("-o", "--output", required=True, help="output wav")
    p.add_argument("--vocoder", default="griffin-lim", help="griffin-lim or a vocoder package folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=_number(int, 0), default=0, help="torch threads (0 = default)")
    p.set_defaults(func=cmd_vocode)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one ``speech`` command; every exception ends here as one line and an exit status
    (:mod:`speech.cli.errors`), with the traceback only under ``--debug`` / ``SPEECH_DEBUG=1``."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error, already reported in one line (2)
        return e.code if isinstance(e.code, int) else errors.BAD_INPUT
    _setup_logging(args.verbose)
    return errors.run_guarded(_dispatch, args, debug=args.debug)


def _dispatch(args: argparse.Namespace) -> int:
    if getattr(args, "device", None) is not None:  # a GPU this machine lacks: one line before any loading
        from speech.device import resolve_device

        resolve_device(args.device)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
