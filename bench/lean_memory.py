"""Peak memory and wall time of long inference jobs through the real CLI, before and after a change.

Cases (each run in a fresh subprocess that calls ``speech.cli.main.main`` with a user's arguments):

* ``an4``: ``speech transcribe`` of a 30-minute file made of the AN4 test utterances (130 clips,
  357 s) cycled with 0.6 s pauses, with the bundled ``an4`` recognizer (its LM beam search);
* ``fsdd``: the same with 30 minutes of FSDD clips and the bundled ``digits`` recognizer;
* ``synth``: ``speech synthesize --text-file`` of LJSpeech sentences (several minutes of audio)
  with the bundled ``kathleen`` voice and Griffin-Lim, written to a WAV file.

The child process measures itself from ``/proc/self/status``: ``VmRSS`` once the model is loaded
(the moment the pipeline's constructor returns: torch, the model and the decoder are in memory),
then it resets the high-water mark (``/proc/self/clear_refs``) so that ``VmHWM`` at the end is the
peak *while the job runs*; "job MB" is that peak minus the loaded baseline, "total MB" the peak
itself. Times are the job alone (load excluded).

"Before" is the same case run from a git worktree of ``--baseline`` (a commit: the code as it was
before the lean path), made in a temporary folder and removed afterwards; "after" is this checkout,
or a worktree of ``--after`` (so that other work in a shared checkout does not move the numbers).
Both runs write their outputs, which are compared (transcript text equal; synthesized samples'
largest difference).

``--profile`` adds, for the checkout's code, where the peak is reached: a sampling thread records
the main thread's Python stack at each new resident-memory maximum, and ``tracemalloc`` lists the
numpy/Python allocations alive at that point (torch's own tensors are not traced; their bytes show
in the RSS).

Example::

    .venv/bin/python bench/lean_memory.py --baseline 2191fab            # all cases, before and after
    .venv/bin/python bench/lean_memory.py --baseline 2191fab --after HEAD  # committed code only
    .venv/bin/python bench/lean_memory.py --cases synth --profile         # where the synthesis peak comes from
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CASES = ("an4", "fsdd", "synth")


# ----------------------------------------------------------------------------------------------
# the child: one case, measuring itself


def _status() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


class _PeakSampler(threading.Thread):
    """Samples VmRSS every few ms; at each new maximum keeps the main thread's stack (--profile)."""

    def __init__(self, main_ident: int):
        super().__init__(daemon=True)
        self.main_ident = main_ident
        self.peak = 0.0
        self.stack: list[str] = []
        self.snapshot = None
        self.stop = threading.Event()

    def run(self) -> None:
        import traceback
        import tracemalloc

        while not self.stop.wait(0.002):
            rss = _status()["VmRSS"]
            if rss > self.peak + 1.0:
                self.peak = rss
                frame = sys._current_frames().get(self.main_ident)
                self.stack = traceback.format_stack(frame)[-8:] if frame is not None else []
                if tracemalloc.is_tracing():
                    self.snapshot = tracemalloc.take_snapshot()


def child(spec: dict) -> None:
    """Run one case (``spec``: root, argv, report path, profile) and write its measurements."""
    sys.path.insert(0, spec["root"])
    import torch

    import speech.cli.main as cli
    from speech.pipelines import synthesizer, transcriber

    marks: dict = {}

    def mark_loaded(cls):
        init = cls.__init__

        def wrapped(self, *a, **k):
            init(self, *a, **k)
            marks["loaded"] = _status()
            marks["t_loaded"] = time.perf_counter()
            with open("/proc/self/clear_refs", "w") as f:  # VmHWM := VmRSS from here on
                f.write("5")

        cls.__init__ = wrapped

    mark_loaded(transcriber.Transcriber)
    mark_loaded(synthesizer.Synthesizer)
    sampler = None
    if spec.get("profile"):
        import tracemalloc

        tracemalloc.start(12)
        sampler = _PeakSampler(threading.get_ident())
        sampler.start()
    torch.set_num_threads(spec["threads"])
    t0 = time.perf_counter()
    rc = cli.main(spec["argv"])
    t1 = time.perf_counter()
    end = _status()
    report = {"rc": rc, "loaded_mb": marks["loaded"]["VmRSS"], "load_peak_mb": marks["loaded"]["VmHWM"],
              "peak_mb": end["VmHWM"], "job_mb": end["VmHWM"] - marks["loaded"]["VmRSS"],
              "job_s": t1 - marks["t_loaded"], "total_s": t1 - t0}
    if sampler is not None:
        sampler.stop.set()
        sampler.join()
        report["stack"] = sampler.stack
        if sampler.snapshot is not None:
            stats = sampler.snapshot.statistics("traceback")[:6]
            report["tracemalloc"] = [f"{s.size / 2**20:.1f} MB in {s.count} blocks:\n" + "\n".join(s.traceback.format()[-6:])
                                     for s in stats]
    Path(spec["report"]).write_text(json.dumps(report))


# ----------------------------------------------------------------------------------------------
# inputs


def _join_clips(paths: list[Path], sample_rate: int, minutes: float, pause: float, out: Path) -> Path:
    """Cycle ``paths`` (mono clips at ``sample_rate``) with ``pause`` s of silence between them until
    ``minutes`` of audio, written as 16-bit WAV one clip at a time."""
    gap = np.zeros(int(pause * sample_rate), np.float32)
    need = int(minutes * 60 * sample_rate)
    done = 0
    with sf.SoundFile(out, "w", samplerate=sample_rate, channels=1, subtype="PCM_16") as f:
        while done < need:
            for p in paths:
                wav, sr = sf.read(p, dtype="float32")
                if sr != sample_rate or wav.ndim != 1:
                    raise SystemExit(f"{p}: {sr} Hz, {wav.ndim} channel(s); expected mono {sample_rate} Hz")
                f.write(wav)
                f.write(gap)
                done += len(wav) + len(gap)
                if done >= need:
                    break
    return out


def an4_file(data: Path, minutes: float, out: Path) -> Path:
    clips = sorted((data / "an4" / "wav" / "an4test_clstk").glob("*/*.flac"))
    if not clips:
        raise SystemExit(f"{data / 'an4'}: no AN4 test utterances (wav/an4test_clstk/*/*.flac); set --data")
    return _join_clips(clips, 16000, minutes, 0.6, out)


def fsdd_file(data: Path, minutes: float, out: Path) -> Path:
    clips = sorted((data / "fsdd" / "recordings").glob("*.wav"))
    if not clips:
        raise SystemExit(f"{data / 'fsdd'}: no FSDD recordings (recordings/*.wav); set --data")
    return _join_clips(clips, 8000, minutes, 0.6, out)


def synth_text(data: Path, sentences: int, out: Path) -> Path:
    src = data / "text" / "ljspeech_metadata_all.csv"
    if not src.is_file():
        raise SystemExit(f"{src}: not found; expected LJSpeech's metadata (id|text|normalized text); set --data")
    rows = []
    with open(src, encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
            if len(row) >= 3 and row[2].strip().endswith("."):
                rows.append(row[2].strip())
            if len(rows) == sentences:
                break
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


# ----------------------------------------------------------------------------------------------
# the parent: cases, worktree, table


def case_argv(case: str, inputs: dict[str, Path], out: Path, threads: int) -> list[str]:
    if case == "an4":
        return ["transcribe", str(inputs["an4"]), "--model", "an4", "--format", "json", "--output-dir", str(out),
                "--threads", str(threads), "--no-progress"]
    if case == "fsdd":
        return ["transcribe", str(inputs["fsdd"]), "--model", "digits", "--segment-pad", "0", "--format", "json",
                "--output-dir", str(out), "--threads", str(threads), "--no-progress"]
    return ["synthesize", "--text-file", str(inputs["synth"]), "-o", str(out / "long.wav"), "--threads", str(threads)]


def run_case(root: Path, argv: list[str], work: Path, threads: int, profile: bool = False) -> dict:
    """One case in a fresh process whose ``speech`` is ``root``'s; its report."""
    report = work / f"report-{time.monotonic_ns()}.json"
    spec = {"root": str(root), "argv": argv, "report": str(report), "threads": threads, "profile": profile}
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)], cwd=root,
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not report.is_file():
        raise SystemExit(f"{' '.join(argv[:2])} at {root} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(report.read_text())


def add_worktree(commit: str, where: Path) -> Path:
    """A detached worktree of ``commit`` at ``where``, with ``speech/conf`` and ``speech/kernels``
    linked to its own ``conf/`` and ``kernels/`` (what the editable install maps)."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit], check=True,
                   capture_output=True)
    for name in ("conf", "kernels"):
        link = where / "speech" / name
        if not link.exists():
            link.symlink_to(where / name, target_is_directory=True)
    return where


def compare(case: str, before: Path, after: Path) -> str:
    """Whether the two runs' outputs agree: transcript text, or synthesized samples."""
    if case == "synth":
        a, _ = sf.read(before / "long.wav", dtype="float32")
        b, _ = sf.read(after / "long.wav", dtype="float32")
        if a.shape != b.shape:
            return f"lengths differ ({len(a)} vs {len(b)})"
        return "identical" if np.array_equal(a, b) else f"max |diff| {np.abs(a - b).max():.2e}"
    ta = [json.loads(p.read_text())["text"] for p in sorted(before.glob("*.json"))]
    tb = [json.loads(p.read_text())["text"] for p in sorted(after.glob("*.json"))]
    return "identical text" if ta == tb else "text differs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--baseline", help="commit to measure as 'before' (a temporary git worktree)")
    ap.add_argument("--after", help="commit to measure as 'after' (default: this checkout as it is, uncommitted "
                                    "changes of the shared checkout included)")
    ap.add_argument("--data", default=os.environ.get("SPEECH_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the files to transcribe")
    ap.add_argument("--sentences", type=int, default=40, help="LJSpeech sentences to synthesize")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="where the checkout's peak is reached (slower)")
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in cases if c not in CASES]
    if bad:
        raise SystemExit(f"--cases: {', '.join(bad)}; expected some of {', '.join(CASES)}")
    data = Path(args.data)
    with tempfile.TemporaryDirectory(prefix="lean-memory-") as tmp:
        work = Path(tmp)
        make = {"an4": lambda: an4_file(data, args.minutes, work / "an4-long.wav"),
                "fsdd": lambda: fsdd_file(data, args.minutes, work / "fsdd-long.wav"),
                "synth": lambda: synth_text(data, args.sentences, work / "long.txt")}
        inputs = {c: make[c]() for c in cases}
        roots = {"after": ROOT}
        try:
            if args.after:
                roots["after"] = add_worktree(args.after, work / "after")
            if args.baseline:
                roots["before"] = add_worktree(args.baseline, work / "base")
            rows = []
            for case in cases:
                got, outs = {}, {}
                for label, root in roots.items():
                    outs[label] = work / f"out-{case}-{label}"
                    outs[label].mkdir()
                    got[label] = run_case(root, case_argv(case, inputs, outs[label], args.threads), work,
                                          args.threads, profile=args.profile and label == "after")
                    print(f"{case} {label}: {json.dumps({k: v for k, v in got[label].items() if k not in ('stack', 'tracemalloc')})}",
                          file=sys.stderr)
                    for key in ("stack", "tracemalloc"):
                        if key in got[label]:
                            print(f"-- {key} at the peak:\n" + "\n".join(got[label][key]), file=sys.stderr)
                same = compare(case, outs["before"], outs["after"]) if "before" in got else ""
                rows.append((case, got, same))
        finally:
            for name in ("base", "after"):
                if (work / name).exists():
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / name)],
                                   capture_output=True, check=False)
    print(f"CPU: {_cpu()}; {args.threads} thread(s); job MB = peak while the job runs - RSS once loaded")
    print("| case | before job MB | after job MB | saving | before total MB | after total MB | "
          "before s | after s | outputs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case, got, same in rows:
        a = got["after"]
        b = got.get("before")
        if b is None:
            print(f"| {case} | | {a['job_mb']:.0f} | | | {a['peak_mb']:.0f} | | {a['job_s']:.1f} | |")
            continue
        saving = 1 - a["job_mb"] / b["job_mb"] if b["job_mb"] > 0 else 0.0
        print(f"| {case} | {b['job_mb']:.0f} | {a['job_mb']:.0f} | {saving:.0%} | {b['peak_mb']:.0f} | "
              f"{a['peak_mb']:.0f} | {b['job_s']:.1f} | {a['job_s']:.1f} | {same} |")


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
