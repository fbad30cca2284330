"""``GET /metrics``: the server's counters in Prometheus's text format (requests and errors by route
and status, latency histograms, audio seconds in and out, queue depth, batch sizes)."""
from __future__ import annotations

import collections
import threading
import time

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the latency histogram's buckets."""


QUEUE_FAMILIES = (
    ("speech_queue_depth", "gauge", "Requests waiting for a model, by queue.", lambda q: q.depth),
    ("speech_queue_capacity", "gauge", "Most requests a queue holds before answering 503.", lambda q: q.capacity),
    ("speech_queue_rejected_total", "counter", "Requests refused with 503 because the queue was full.",
     lambda q: q.rejected),
    ("speech_batches_total", "counter", "Batches run through a model, by queue.", lambda q: q.batches),
    ("speech_batched_requests_total", "counter", "Requests run through a model, by queue.", lambda q: q.items),
    ("speech_model_busy_seconds_total", "counter", "Seconds the model worker spent running batches.",
     lambda q: round(q.busy_seconds, 3)),
)
"""The per-queue families: name, type, help, and the value read off a :class:`~speech.serve.batching.BatchQueue`."""


class Metrics:
    """Counters shared by the request handlers (thread-safe; cheap enough to update on every request)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self.latency_counts: dict[str, list[int]] = {}
        self.latency_sum: collections.Counter[str] = collections.Counter()
        self.audio_seconds: collections.Counter[str] = collections.Counter()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, int(status))] += 1
            counts = self.latency_counts.setdefault(route, [0] * (len(LATENCY_BUCKETS) + 1))
            k = next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
            counts[k] += 1
            self.latency_sum[route] += seconds

    def add_audio(self, direction: str, seconds: float) -> None:
        """``direction``: ``transcribed`` (audio in) or ``synthesized`` (audio out)."""
        with self._lock:
            self.audio_seconds[direction] += float(seconds)

    def render(self, queues=()) -> str:
        """The exposition text; ``queues``: the :class:`~speech.serve.batching.BatchQueue` objects."""
        out: list[str] = []

        def family(name: str, kind: str, help_text: str):
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            family("speech_requests_total", "counter", "HTTP requests answered, by method, route and status.")
            for (method, route, status), n in sorted(self.requests.items()):
                out.append(f'speech_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            family("speech_request_errors_total", "counter", "HTTP requests answered with a status of 400 or more.")
            errors: collections.Counter[tuple[str, str]] = collections.Counter()
            for (method, route, status), n in self.requests.items():
                if status >= 400:
                    errors[(route, "client" if status < 500 else "server")] += n
            for (route, kind), n in sorted(errors.items()):
                out.append(f'speech_request_errors_total{{route="{route}",kind="{kind}"}} {n}')
            family("speech_request_seconds", "histogram", "Time from request to response, by route.")
            for route, counts in sorted(self.latency_counts.items()):
                running = 0
                for bound, c in zip((*LATENCY_BUCKETS, float("inf")), counts):
                    running += c
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    out.append(f'speech_request_seconds_bucket{{route="{route}",le="{le}"}} {running}')
                out.append(f'speech_request_seconds_sum{{route="{route}"}} {self.latency_sum[route]:.6f}')
                out.append(f'speech_request_seconds_count{{route="{route}"}} {running}')
            family("speech_audio_seconds_total", "counter", "Seconds of audio transcribed and synthesized.")
            for direction in ("transcribed", "synthesized"):
                out.append(f'speech_audio_seconds_total{{direction="{direction}"}} '
                           f"{self.audio_seconds[direction]:.3f}")
        for name, kind, help_text, value in QUEUE_FAMILIES:
            family(name, kind, help_text)
            out += [f'{name}{{queue="{q.name}"}} {value(q):g}' for q in queues]
        family("speech_uptime_seconds", "gauge", "Seconds since the server started.")
        out.append(f"speech_uptime_seconds {time.time() - self.started:.1f}")
        return "\n".join(out) + "\n"
