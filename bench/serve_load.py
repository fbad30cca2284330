#!/usr/bin/env python
"""Load test of ``speech serve`` on 127.0.0.1: concurrent recognition and synthesis clients, bounded in
time and in requests, against a server started here in its own process.

Phases, each against a fresh server (so each row's peak memory is its own):

* **batched**: ``--asr-clients`` (16) clients send FSDD test clips to the bundled ``digits`` recognizer
  while ``--tts-clients`` (4) send Harvard sentences to the ``kathleen`` voice, ``--max-batch 16``;
* **one at a time**: the same with ``--max-batch 1``: batching's gain is the ratio of the two phases'
  recognition throughput (requests per second), measured in the same run;
* **overload**: ``--overload-clients`` (48) recognition clients against ``--asr-queue 8``, to show the
  back-pressure: deliberate 503s and nothing else among the errors.

For each phase: requests per second, p50/p95 latency, status counts (no 5xx but deliberate 503s
allowed), the mean batch size (from /metrics) and the server's peak resident memory (VmHWM). Afterwards
the same clips are transcribed one request at a time, and the texts compared with those of the load.

    python bench/serve_load.py                      # about 3 minutes on a 2-core CPU
    python bench/serve_load.py --asr-model an4 --manifest <an4 test.jsonl>
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from speech.recipes.common import cpu_model  # noqa: E402 - after the path of a source checkout

SENTENCES = ["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
             "It is easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
             "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
             "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage."]


def fsdd_test_clips(data: Path) -> list[Path]:
    """The FSDD test split (takes 0-4 of every digit and speaker), sorted."""
    rec = data / "fsdd" / "recordings"
    clips = sorted(p for p in rec.glob("*.wav") if int(p.stem.rsplit("_", 1)[1]) < 5)
    if not clips:
        sys.exit(f"no FSDD clips under {rec}: set SPEECH_DATA or --data")
    return clips


def manifest_clips(path: Path) -> list[Path]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [Path(r["audio"]) if Path(r["audio"]).is_absolute() else path.parent / r["audio"] for r in rows]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


def run_load(url: str, asr_model: str, clips: list[Path], asr_clients: int, tts_clients: int,
             max_asr: int, max_tts: int, max_seconds: float, voice: str = "kathleen") -> dict:
    """Drive the server at ``url``: ``asr_clients`` threads share ``max_asr`` recognition requests (clip k
    goes to request k, cycling) and ``tts_clients`` threads ``max_tts`` synthesis requests; nobody
    starts a request after ``max_seconds``. Returns latencies, statuses and texts by clip index."""
    datas = [p.read_bytes() for p in clips]
    lock = threading.Lock()
    counters = {"asr": 0, "tts": 0}
    out = {"asr": [], "tts": []}  # (status, seconds, index, text or None)
    last = {"asr": 0.0, "tts": 0.0}  # when each kind's last answer came
    t_start = time.perf_counter()

    def take(kind: str, limit: int) -> int | None:
        with lock:
            k = counters[kind]
            if k >= limit or time.perf_counter() - t_start > max_seconds:
                return None
            counters[kind] = k + 1
            return k

    def asr_client():
        with httpx.Client(base_url=url, timeout=120) as c:
            while (k := take("asr", max_asr)) is not None:
                i = k % len(clips)
                t0 = time.perf_counter()
                r = c.post("/v1/audio/transcriptions", files={"file": (clips[i].name, datas[i])},
                           data={"model": asr_model})
                text = r.json().get("text") if r.status_code == 200 else None
                with lock:
                    out["asr"].append((r.status_code, time.perf_counter() - t0, i, text))
                    last["asr"] = time.perf_counter() - t_start

    def tts_client():
        with httpx.Client(base_url=url, timeout=120) as c:
            while (k := take("tts", max_tts)) is not None:
                t0 = time.perf_counter()
                r = c.post("/v1/audio/speech", json={"model": voice, "input": SENTENCES[k % len(SENTENCES)],
                                                     "response_format": "wav"})
                with lock:
                    out["tts"].append((r.status_code, time.perf_counter() - t0, k, None))
                    last["tts"] = time.perf_counter() - t_start

    threads = [threading.Thread(target=asr_client) for _ in range(asr_clients)]
    threads += [threading.Thread(target=tts_client) for _ in range(tts_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    result = {"wall_s": wall}
    for kind in ("asr", "tts"):
        rows = out[kind]
        ok = [s for code, s, _, _ in rows if code == 200]
        codes: dict[int, int] = {}
        for code, *_ in rows:
            codes[code] = codes.get(code, 0) + 1
        result[kind] = {"requests": len(rows), "ok": len(ok), "status": codes, "rps": len(ok) / last[kind] if last[kind] else 0.0,
                        "p50_s": percentile(ok, 50), "p95_s": percentile(ok, 95),
                        "texts": {i: text for code, _, i, text in rows if code == 200}}
    return result


def one_by_one(url: str, asr_model: str, clips: list[Path], indices: list[int]) -> dict[int, str]:
    """The same clips, one request at a time (each its own batch of one)."""
    texts = {}
    with httpx.Client(base_url=url, timeout=120) as c:
        for i in indices:
            r = c.post("/v1/audio/transcriptions", files={"file": (clips[i].name, clips[i].read_bytes())},
                       data={"model": asr_model})
            texts[i] = r.json().get("text")
    return texts


def metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


class Server:
    """``speech serve`` in its own process on a free port of 127.0.0.1."""

    def __init__(self, args: list[str], threads: int):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "speech.cli.main", "serve", "--port", str(self.port), "--threads", str(threads),
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"the server exited: {self.proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                sys.exit("the server did not start within 120 s")
            time.sleep(0.2)

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=10).text

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def phase(name: str, server_args: list[str], args, clips, asr_clients: int, tts_clients: int) -> dict:
    server = Server(server_args, args.threads)
    try:
        r = run_load(server.url, args.asr_model, clips, asr_clients, tts_clients, args.asr_requests,
                     args.tts_requests if tts_clients else 0, args.max_seconds)
        m = server.metrics()
        batches = metric(m, "speech_batches_total", '{queue="asr"}')
        items = metric(m, "speech_batched_requests_total", '{queue="asr"}')
        r["mean_batch"] = items / batches if batches else float("nan")
        r["peak_rss_mb"] = server.peak_rss_mb()
        if name == "batched":
            indices = sorted(r["asr"]["texts"])[: args.check]
            alone = one_by_one(server.url, args.asr_model, clips, indices)
            r["same_text"] = sum(alone[i] == r["asr"]["texts"][i] for i in indices)
            r["checked"] = len(indices)
    finally:
        server.stop()
    r["name"] = name
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("SPEECH_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--asr-model", default="digits")
    ap.add_argument("--manifest", type=Path, help="clips from a JSON-lines manifest instead of FSDD test")
    ap.add_argument("--asr-clients", type=int, default=16)
    ap.add_argument("--tts-clients", type=int, default=4)
    ap.add_argument("--overload-clients", type=int, default=48)
    ap.add_argument("--asr-requests", type=int, default=600, help="recognition requests per phase (at most)")
    ap.add_argument("--tts-requests", type=int, default=24, help="synthesis requests per phase (at most)")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="no request starts after this (per phase)")
    ap.add_argument("--threads", type=int, default=2, help="the server's torch threads")
    ap.add_argument("--check", type=int, default=300, help="clips transcribed again one at a time")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    clips = manifest_clips(args.manifest) if args.manifest else fsdd_test_clips(Path(args.data))
    common = ["--asr", args.asr_model, "--tts", "kathleen"]
    rows = [phase("batched", common + ["--max-batch", "16"], args, clips, args.asr_clients, args.tts_clients),
            phase("one at a time", common + ["--max-batch", "1"], args, clips, args.asr_clients, args.tts_clients),
            phase("overload", common + ["--max-batch", "16", "--asr-queue", "8"], args, clips,
                  args.overload_clients, 0)]
    print(f"# serve load: {cpu_model()}, {os.cpu_count()} cores, server torch threads {args.threads}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}; {args.asr_model} on {len(clips)} clips")
    print("| phase | clients (asr+tts) | asr requests | asr req/s | asr p50 / p95 (s) | tts requests | tts req/s | "
          "tts p50 / p95 (s) | statuses | mean asr batch | server peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, t = r["asr"], r["tts"]
        statuses = {}
        for part in (a, t):
            for code, n in part["status"].items():
                statuses[code] = statuses.get(code, 0) + n
        clients = f"{args.overload_clients}+0" if r["name"] == "overload" else f"{args.asr_clients}+{args.tts_clients}"
        print(f"| {r['name']} | {clients} | {a['requests']} | {a['rps']:.1f} | {a['p50_s']:.3f} / {a['p95_s']:.3f} | "
              f"{t['requests']} | {t['rps']:.2f} | {t['p50_s']:.2f} / {t['p95_s']:.2f} | "
              f"{', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} | {r['mean_batch']:.1f} | "
              f"{r['peak_rss_mb']:.0f} |")
    batched, single = rows[0]["asr"]["rps"], rows[1]["asr"]["rps"]
    print(f"\nbatching gain (recognition req/s, batched / one at a time): {batched / single:.2f}x")
    print(f"same text one request at a time: {rows[0]['same_text']}/{rows[0]['checked']} clips")
    server_errors = sum(n for r in rows for part in (r["asr"], r["tts"]) for code, n in part["status"].items()
                        if code >= 500 and code != 503)
    print(f"5xx other than 503: {server_errors}")
    if args.json:
        for r in rows:
            for part in ("asr", "tts"):
                r[part].pop("texts", None)
        args.json.write_text(json.dumps({"cpu": cpu_model(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
