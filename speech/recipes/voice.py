"""The voice recipe shared by recipes/kathleen and recipes/ljspeech.

Stages: (1) ``speech train experiment=<name>`` (targets, aligner, FastSpeech2, package; each stage
cached and resumable); (2) synthesis of every held-out prompt with Griffin-Lim and its objective
evaluation against the real recordings (MCD with DTW, F0 RMSE, voicing error, real-time factor,
and the WER of an independent recognizer, PocketSphinx, on synthesized vs real audio);
(3) the results table, written to ``<exp>/results.md`` and into the recipe's README.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from pathlib import Path

from speech.config import compose
from speech.packages.voice import load_tts_package
from speech.pipelines.evaluate_tts import evaluate_copy_synthesis, evaluate_voice
from speech.recipes.bundle import Card, export_bundled, half_copy, read_json
from speech.recipes.common import machine_summary, write_results_block
from speech.train.tts import train_tts
from speech.train.vocoder import train_vocoder

__all__ = ["main"]


def _fmt(x, spec: str, unit: str = "") -> str:
    try:
        if x is None or x != x:
            return "n/a"
    except TypeError:
        return "n/a"
    return f"{x:{spec}}{unit}"


def main(name: str, corpus_dir: str, readme: Path, doc: str, argv: list[str] | None = None) -> int:
    repo = readme.resolve().parents[2]
    default_data = Path(os.environ.get("SPEECH_DATA", repo.parent / "shared" / "data")) / corpus_dir
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_data, help="corpus folder in its own layout")
    ap.add_argument("--exp", type=Path, default=repo / "exp" / name, help="experiment folder")
    ap.add_argument("--eval-limit", type=int, default=0, help="evaluate only the first N held-out prompts (0 = all)")
    ap.add_argument("--no-asr", action="store_true", help="skip the recognizer WER (pocketsphinx)")
    ap.add_argument("--no-readme", action="store_true", help="do not write the results into the recipe README")
    ap.add_argument("--vocoder-steps", type=int, default=0,
                    help="also train a HiFi-GAN vocoder for this many steps (vocoder.* overrides apply; 0 = skip) "
                         "and evaluate it: copy synthesis and synthesis, next to Griffin-Lim")
    ap.add_argument("--vocoder-finetune-steps", type=int, default=0,
                    help="then fine-tune that vocoder for this many steps on the voice's teacher-forced mels "
                         "(its synthesis is judged with the fine-tuned vocoder; 0 = no fine-tuning)")
    ap.add_argument("--export-bundled", action="store_true",
                    help=f"then write the voice as the bundled voice '{name}' (speech/pretrained/{name}, float16 "
                         "weights, card.md), its held-out prompts evaluated again as shipped")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. trainer.max_epochs=10")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if not args.data.is_dir():
        print(f"{name} recipe: {args.data}: corpus folder not found (pass --data)", file=sys.stderr)
        return 2


    cfg = compose([f"experiment={name}", f"tts.corpus={args.data}", f"output_dir={args.exp}", *args.overrides])
    t0 = time.time()
    result, package = train_tts(cfg)
    train_minutes = (time.time() - t0) / 60
    summary = json.loads((args.exp / "train_summary.json").read_text())

    t1 = time.time()
    previous = args.exp / "results.json"
    before = json.loads(previous.read_text()) if previous.is_file() else {}
    if (args.export_bundled and not args.eval_limit and not args.no_asr and "wer_synth" in before
            and before.get("steps") == result.steps and before.get("utterances")):
        ev = before  # the model of these steps was evaluated in full already (the package is rewritten each run)
        ev_fresh = False
        eval_minutes = float(ev.get("eval_minutes", 0.0))
        train_minutes = float(ev.get("train_minutes", train_minutes))
    else:
        ev = evaluate_voice(package, args.data, out_dir=args.exp / "eval",
                            recognizer=None if args.no_asr else "auto", limit=args.eval_limit or None)
        ev_fresh = not args.eval_limit and not args.no_asr  # all held-out prompts, with the recognizer
        eval_minutes = (time.time() - t1) / 60
    data = summary.get("data", {})
    row = {
        "held-out utterances": ev.get("utterances"),
        "MCD mel-fbank (dB)": _fmt(ev.get("mcd_db"), ".2f"),
        "MCD WORLD (dB)": _fmt(ev.get("mcd_world_db"), ".2f"),
        "F0 RMSE": f"{_fmt(ev.get('f0_rmse_hz'), '.1f', ' Hz')} / {_fmt(ev.get('f0_rmse_cents'), '.0f', ' cents')}",
        "voicing error": _fmt(ev.get("vde"), ".1%"),
        "recognizer WER real": _fmt(ev.get("wer_real"), ".1%"),
        "recognizer WER synth": _fmt(ev.get("wer_synth"), ".1%"),
        "synthesis RTF": _fmt(ev.get("rtf"), ".3f"),
        "training": f"{train_minutes:.1f} min, {result.steps} steps, {data.get('train', '?')} utts",
        "machine": machine_summary(),
    }
    table = "| " + " | ".join(row) + " |\n|" + "---|" * len(row) + "\n| " + " | ".join(str(v) for v in row.values()) + " |"
    results = {"train_minutes": round(train_minutes, 2), "eval_minutes": round(eval_minutes, 2),
               "steps": result.steps, "package": str(package),
               **{k: v for k, v in ev.items() if k != "rows"}}
    if args.vocoder_steps > 0:
        results["vocoder"] = _vocoder_stage(cfg, args, package)
    (args.exp / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.exp / "results.md").write_text(table + "\n")
    print(table)
    if not args.no_readme:
        write_results_block(readme, (
            f"{table}\n\nProduced by `python recipes/{readme.parent.name}/run.py` ({time.strftime('%Y-%m-%d')}); "
            f"vocoder Griffin-Lim (32 iterations); total wall time {train_minutes + eval_minutes:.1f} min "
            f"(training {train_minutes:.1f}, evaluation {eval_minutes:.1f}). MCD over 23 mel-filterbank cepstra "
            "after DTW (comparable between our systems, not with published mcep-based numbers); recognizer = "
            "PocketSphinx 5 en-us (the `eval` extra)."))
    if args.export_bundled:
        export_voice(name, package, args, train_minutes, ev if ev_fresh else None)
    return 0


def export_voice(name: str, package: Path, args, train_minutes: float, ev: dict | None) -> Path:
    """The bundled voice: a float16 copy, its held-out prompts synthesized and scored again, the card."""
    half = half_copy(package, args.exp / "model-fp16")
    if ev is None:  # results from an earlier run (or a partial one): measured again, with today's front end
        ev = evaluate_voice(package, args.data, out_dir=args.exp / "eval-fp32", recognizer="auto", progress=False)
    ev16 = evaluate_voice(half, args.data, out_dir=args.exp / "eval-fp16", recognizer="auto", progress=False)
    meta = read_json(package / "meta.json")
    n = ev16.get("utterances")

    def row(label, key, spec, unit=""):
        return label, _fmt(ev.get(key), spec, unit), _fmt(ev16.get(key), spec, unit)

    card = Card(
        name=name, kind="tts", title=f"English voice '{name}' (FastSpeech2 + Griffin-Lim)",
        task="speech synthesis (FastSpeech2, conv encoder/decoder; Griffin-Lim vocoder, 32 iterations)",
        domain="US English, one adult female speaker, read sentences (22.05 kHz)",
        summary=f"The default voice of `speech synthesize`. Trained by the toolkit on {name}'s recordings of "
                "CMU ARCTIC prompts, with durations from the toolkit's own aligner. Griffin-Lim makes it "
                "intelligible but buzzy; a neural vocoder would sound better.",
        data=f"the {name} corpus: {meta.get('train_utterances', '?')} training takes; "
             f"{n} held-out takes of prompts never trained on",
        licence="CC0 1.0 (the Kathleen voice dataset, github.com/rhasspy/dataset-voice-cathy)" if name == "kathleen"
        else "see the corpus' SOURCE.md",
        command=f"python recipes/{name}/run.py --export-bundled",
        training=f"{train_minutes:.1f} min for the whole recipe's training stages (aligner, targets, acoustic "
                 f"model: {meta['train_seconds'] / 60:.1f} min, {meta['steps']} steps)",
        rows=[row(f"recognizer WER, synthesized held-out prompts ({n})", "wer_synth", ".1%"),
              row("recognizer WER, the real recordings of the same prompts", "wer_real", ".1%"),
              row("mel-cepstral distortion, WORLD/SPTK mel-cepstra (the standard MCD)", "mcd_world_db", ".2f", " dB"),
              row("mel-cepstral distortion, mel-filterbank cepstra (ours)", "mcd_db", ".2f", " dB"),
              row("F0 RMSE", "f0_rmse_hz", ".1f", " Hz"), row("voicing error", "vde", ".1%")],
        notes=["Recognizer: PocketSphinx 5 en-us (the `eval` extra), a fresh decoder per utterance; it misreads "
               "real speech too, so judge the synthesized WER against the real one, never against zero."],
        usage=f'speech synthesize "Author of the danger trail." -o out.wav\n'
              f'speech synthesize --text-file chapter.txt -o chapter.wav --model {name} --speed 1.1')
    return export_bundled(package, card,
                          numbers={"recognizer WER synth/real": f"{100 * ev16['wer_synth']:.1f}%/"
                                                                f"{100 * ev16['wer_real']:.1f}%",
                                   "MCD WORLD": f"{ev16.get('mcd_world_db', float('nan')):.2f} dB"},
                          metrics={"wer_synth": ev16["wer_synth"], "wer_real": ev16["wer_real"],
                                   "mcd_db": ev16["mcd_db"], "mcd_world_db": ev16.get("mcd_world_db"),
                                   "utterances": n})


def _vocoder_stage(cfg, args, voice_package) -> dict:
    """Train HiFi-GAN on the same corpus, then compare it with Griffin-Lim on the held-out prompts:
    copy synthesis (the recordings' own mels) and synthesis with the voice."""
    from omegaconf import OmegaConf


    gt_cfg = copy.deepcopy(cfg)
    OmegaConf.update(gt_cfg, "vocoder.trainer.max_steps", args.vocoder_steps, force_add=True)
    result, vocoder = train_vocoder(gt_cfg)
    steps, seconds, synth_vocoder, ft_note = result.steps, result.seconds, vocoder, ""
    if args.vocoder_finetune_steps > 0:
        # Fine-tuning on the voice's own (teacher-forced) mels: the vocoder learns to turn the smoother
        # predicted mels into the real waveform. Synthesis is judged with it; copy synthesis with the
        # ground-truth vocoder.
        ft_cfg = copy.deepcopy(cfg)
        for key, value in (("vocoder.mels", "teacher_forced"), ("vocoder.acoustic_model", str(voice_package)),
                           ("vocoder.init_from", str(vocoder)), ("vocoder.adversarial_start_step", 0),
                           ("vocoder.output_dir", str(Path(vocoder).parent.parent / "vocoder-finetuned")),
                           ("vocoder.trainer.max_steps", args.vocoder_finetune_steps)):
            OmegaConf.update(ft_cfg, key, value, force_add=True)
        ft_result, synth_vocoder = train_vocoder(ft_cfg)
        steps, seconds = steps + ft_result.steps, seconds + ft_result.seconds
        ft_note = f" + {ft_result.steps} fine-tuning steps on teacher-forced mels ({ft_result.seconds / 60:.1f} min)"
    ids = list(load_tts_package(voice_package).meta.get("test_ids", []))
    if args.eval_limit:
        ids = ids[: args.eval_limit]
    rec = None if args.no_asr else "auto"
    rows = {}
    keys = ("mcd_db", "mcd_world_db", "f0_rmse_hz", "vde", "wer_real", "wer_synth", "rtf")
    for name, voc, synth_voc in (("griffin-lim", "griffin-lim", "griffin-lim"),
                                 ("hifigan", str(vocoder), str(synth_vocoder))):
        cs = evaluate_copy_synthesis(voc, args.data, ids, args.exp / "vocoder_eval" / f"copy-{name}", recognizer=rec)
        tts = evaluate_voice(voice_package, args.data, ids=ids, out_dir=args.exp / "vocoder_eval" / f"tts-{name}",
                             vocoder=synth_voc, recognizer=rec)
        rows[name] = {"copy": {k: cs.get(k) for k in keys}, "tts": {k: tts.get(k) for k in keys}}
    lines = ["| vocoder | mode | MCD WORLD (dB) | MCD mel-fbank (dB) | F0 RMSE (Hz) | voicing error | recognizer WER "
             f"(real: {_fmt(rows['griffin-lim']['copy'].get('wer_real'), '.1%')}) | RTF |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        for mode in ("copy", "tts"):
            m = r[mode]
            lines.append(f"| {name} | {'copy synthesis' if mode == 'copy' else 'synthesis'} "
                         f"| {_fmt(m.get('mcd_world_db'), '.2f')} | {_fmt(m['mcd_db'], '.2f')} "
                         f"| {_fmt(m['f0_rmse_hz'], '.1f')} | {_fmt(m['vde'], '.1%')} | {_fmt(m['wer_synth'], '.1%')} "
                         f"| {_fmt(m['rtf'], '.3f')} |")
    table = "\n".join(lines)
    print(table)
    (args.exp / "vocoder_results.md").write_text(
        f"{table}\n\nHiFi-GAN: {result.steps} steps on ground-truth mels ({result.seconds / 60:.1f} min){ft_note}, "
        f"on {machine_summary()}\n")
    return {"steps": steps, "minutes": round(seconds / 60, 1), "package": str(vocoder),
            "synthesis_package": str(synth_vocoder), **rows}
