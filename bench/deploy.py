#!/usr/bin/env python
"""Deployment benchmark: torch eager vs ONNX fp32 vs ONNX int8, at 1 and 2 threads, in one run.

Rows (each measurement in its own process, so peak memory is that engine's alone):

* **recognizer** (AN4, bundled ``an4`` with its LM and beam): real-time factor transcribing 30 s of
  AN4 test audio (utterances joined into one file: the long-file path), peak resident memory;
* **voice** (bundled ``kathleen`` + Griffin-Lim): real-time factor synthesizing a paragraph;
* model sizes on disk (torch package float16 as shipped, ONNX fp32, ONNX int8);
* cold start: process start to the text of one FSDD clip printed, ``speech transcribe`` with the
  digits model, torch vs ``--runtime onnx`` (median of ``--repeats``);
* with ``--install-size``: a fresh virtualenv with only ``speech[runtime]`` vs this one (the full install).

The speed ratio of each row is against torch eager at the same thread count, measured in the same run.

    python bench/deploy.py                    # ~10 minutes on a 2-core CPU
    python bench/deploy.py --install-size     # also builds a runtime-only virtualenv (~2 minutes more)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARAGRAPH = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. It is easy "
             "to tell the depth of a well. These days a chicken leg is a rare dish. Rice is often served in round "
             "bowls. The juice of lemons makes fine punch.")
ENGINES = ("torch", "onnx-fp32", "onnx-int8")


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> None:
    """One measurement in this process: warm-up once, then the median of ``repeats`` runs; prints JSON."""
    threads = int(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    engine, task, model = args.engine, args.task, args.model
    if engine == "torch":
        import torch

        torch.set_num_threads(threads)
    if task == "asr":
        if engine == "torch":
            from speech.pipelines.transcriber import Transcriber
            run = Transcriber(model, batch_size=8)
        else:
            from speech.runtime.asr import OnnxTranscriber
            run = OnnxTranscriber(model, batch_size=8, threads=threads)
        audio = args.audio
        from speech.audio import info
        seconds = info(audio).duration
        call = lambda: run.transcribe_file(audio).text  # noqa: E731
    else:
        if engine == "torch":
            from speech.pipelines.synthesizer import Synthesizer
            run = Synthesizer(model)
        else:
            from speech.runtime.tts import OnnxSynthesizer
            run = OnnxSynthesizer(model, threads=threads)
        first = run.synthesize(PARAGRAPH)
        seconds = len(first.wav) / first.sample_rate
        call = lambda: run.synthesize(PARAGRAPH)  # noqa: E731
    out = call()
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t)
    peak_mb = peak_rss_mb()
    print(json.dumps({"rtf": statistics.median(times) / seconds, "seconds": seconds, "peak_mb": peak_mb,
                      "text": out if isinstance(out, str) else ""}))


def measure(engine: str, task: str, model: str, threads: int, repeats: int, audio: str = "") -> dict:
    cmd = [sys.executable, __file__, "--child", "--engine", engine, "--task", task, "--model", model,
           "--threads", str(threads), "--repeats", str(repeats), "--audio", audio]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def cold_start(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "speech.cli.main", *argv], capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if r.returncode:
            raise SystemExit(f"cold start failed: {' '.join(argv)}: {r.stderr.strip()[-300:]}")
    return statistics.median(times)


def folder_mb(p: Path) -> float:
    return sum(f.stat().st_size for f in Path(p).rglob("*") if f.is_file()) / 1e6


def install_sizes(work: Path) -> tuple[float, float]:
    venv = work / "runtime-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{REPO}[runtime]"], check=True)
    check = subprocess.run([str(venv / "bin" / "python"), "-c", "import speech.runtime.asr, onnxruntime; "
                            "import importlib.util as u; print(u.find_spec('torch') is None)"],
                           capture_output=True, text=True, check=True)
    assert check.stdout.strip() == "True", "the runtime virtualenv has torch"
    return folder_mb(venv), folder_mb(Path(sys.prefix))


def thirty_seconds_of_an4(data: Path, out: Path) -> Path:
    import numpy as np

    from speech.audio import load, save
    from speech.data.prepare import prepare

    test = prepare("an4", data / "an4", out.parent / "an4-data")["test"]
    from speech.data.manifest import read_manifest

    pieces, total = [], 0
    for u in read_manifest(test):
        wav = load(u.audio, 16000)[0]
        pieces += [wav, np.zeros(4000, np.float32)]
        total += len(wav) + 4000
        if total >= 30 * 16000:
            break
    save(out, np.concatenate(pieces)[: 30 * 16000], 16000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", default="torch")
    ap.add_argument("--task", default="asr")
    ap.add_argument("--model", default="")
    ap.add_argument("--audio", default="")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cold-repeats", type=int, default=5)
    ap.add_argument("--install-size", action="store_true", help="also build a runtime-only virtualenv and size it")
    ap.add_argument("--data", default=os.environ.get("SPEECH_DATA", str(REPO.parent / "shared" / "data")))
    args = ap.parse_args()
    if args.child:
        args.threads = args.threads[0]
        return child(args)

    from speech.export.api import export_model
    from speech.recipes.common import cpu_model

    work = Path(tempfile.mkdtemp(prefix="speech-deploy-"))
    try:
        print(f"# deploy benchmark: {cpu_model()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
        models = {"asr": {"torch": "an4"}, "tts": {"torch": "kathleen"}}
        for task, name in (("asr", "an4"), ("tts", "kathleen")):
            for prec in ("fp32", "int8"):
                models[task][f"onnx-{prec}"] = str(export_model(name, work / f"{name}-{prec}", int8=prec == "int8",
                                                                measure=False).path)
        audio = str(thirty_seconds_of_an4(Path(args.data), work / "an4-30s.wav"))
        print("\n| model | engine | threads | RTF | speed vs torch | peak memory (MB) | size on disk (MB) |")
        print("|---|---|---|---|---|---|---|")
        texts = {}
        for task, label in (("asr", "AN4 recognizer, 30 s of audio"), ("tts", "kathleen voice + Griffin-Lim, a paragraph")):
            for threads in args.threads:
                base = None
                for engine in ENGINES:
                    model = models[task][engine]
                    r = measure(engine, task, model, threads, args.repeats, audio)
                    size = folder_mb(Path(model) if engine != "torch" else REPO / "speech" / "pretrained" / model)
                    if "error" in r:
                        print(f"| {label} | {engine} | {threads} | failed: {r['error']} | | | {size:.1f} |")
                        continue
                    base = r["rtf"] if engine == "torch" else base
                    ratio = f"{base / r['rtf']:.2f}x" if base else "-"
                    print(f"| {label} | {engine} | {threads} | {r['rtf']:.4f} | {ratio} | {r['peak_mb']:.0f} | "
                          f"{size:.1f} |", flush=True)
                    if task == "asr":
                        texts[(engine, threads)] = r["text"]
        if len({t for t in texts.values()}) > 1:
            print("\nnote: the transcripts of the 30 s file differ between engines:")
            for k, t in texts.items():
                print(f"  {k}: {t}")
        clip = str(Path(args.data) / "fsdd" / "recordings" / "7_theo_0.wav")
        digits = str(export_model("digits", work / "digits-int8", int8=True, measure=False).path)
        digits32 = str(export_model("digits", work / "digits-fp32", measure=False).path)
        print("\n| cold start: process start to the text of one clip | seconds |")
        print("|---|---|")
        for label, argv in (("torch, bundled digits", ["transcribe", clip, "--model", "digits"]),
                            ("--runtime onnx, digits fp32", ["transcribe", clip, "--runtime", "onnx", "--model", digits32]),
                            ("--runtime onnx, digits int8", ["transcribe", clip, "--runtime", "onnx", "--model", digits])):
            print(f"| {label} | {cold_start(argv, args.cold_repeats):.2f} |", flush=True)
        if args.install_size:
            rt, full = install_sizes(work)
            print("\n| virtualenv | size (MB) |\n|---|---|")
            print(f"| speech[runtime] only (numpy, onnxruntime, soundfile, ...) | {rt:.0f} |")
            print(f"| full (this one: torch, torchaudio, ...) | {full:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
