"""The bounded batching queue: concurrent requests share batches, each gets its own result or error,
a full queue refuses at once, and a client that went away costs the model nothing."""
from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np
import pytest

from speech.serve.batching import BatchQueue, QueueFull
from speech.serve.settings import ServeSettings
from tests.serve.conftest import running_server, wav_bytes
from tests.serve.fakes import gated_models


def run(coro):
    return asyncio.run(coro)


def test_requests_waiting_together_run_as_one_batch_in_order():
    seen: list[list[int]] = []
    gate = threading.Event()

    def work(items):
        gate.wait(10)
        seen.append(list(items))
        return [x * 10 for x in items]

    async def main():
        q = BatchQueue("t", work, max_batch=4, max_wait=0.0, capacity=16)
        q.start()
        first = asyncio.ensure_future(q.submit(0))
        while q.running == 0:  # the first batch is on the worker thread, holding the gate
            await asyncio.sleep(0)
        rest = [asyncio.ensure_future(q.submit(i)) for i in range(1, 7)]
        await asyncio.sleep(0)
        gate.set()
        out = await asyncio.gather(first, *rest)
        await q.stop()
        return out, q

    out, q = run(main())
    assert out == [0, 10, 20, 30, 40, 50, 60]
    assert seen == [[0], [1, 2, 3, 4], [5, 6]]  # max_batch caps a batch; what waited went together
    assert q.batches == 3 and q.items == 7 and q.batch_sizes == {1: 1, 4: 1, 2: 1}


def test_one_bad_request_fails_alone():
    def work(items):
        return [ValueError(f"bad {x}") if x < 0 else x for x in items]

    async def main():
        q = BatchQueue("t", work, max_batch=8, max_wait=0.05, capacity=8)
        q.start()
        results = await asyncio.gather(*(q.submit(x) for x in (1, -2, 3)), return_exceptions=True)
        await q.stop()
        return results

    ok1, bad, ok3 = run(main())
    assert (ok1, ok3) == (1, 3) and isinstance(bad, ValueError) and str(bad) == "bad -2"


def test_a_batch_that_raises_fails_each_of_its_requests_and_the_queue_goes_on():
    calls = []

    def work(items):
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("model fell over")
        return items

    async def main():
        q = BatchQueue("t", work, max_batch=8, max_wait=0.05, capacity=8)
        q.start()
        first = await asyncio.gather(q.submit(1), q.submit(2), return_exceptions=True)
        second = await q.submit(3)
        await q.stop()
        return first, second

    first, second = run(main())
    assert [str(e) for e in first] == ["model fell over"] * 2 and second == 3


def test_a_full_queue_refuses_at_once():
    gate = threading.Event()

    async def main():
        q = BatchQueue("asr", lambda items: (gate.wait(10), items)[1], max_batch=1, max_wait=0.0, capacity=2)
        q.start()
        running = asyncio.ensure_future(q.submit("a"))
        while q.running == 0:
            await asyncio.sleep(0)
        waiting = [asyncio.ensure_future(q.submit(x)) for x in "bc"]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="the asr queue is full"):
            await q.submit("d")
        gate.set()
        out = await asyncio.gather(running, *waiting)
        await q.stop()
        return out, q.rejected

    out, rejected = run(main())
    assert out == ["a", "b", "c"] and rejected == 1


def test_a_cancelled_request_never_reaches_the_model():
    gate, seen = threading.Event(), []

    def work(items):
        gate.wait(10)
        seen.extend(items)
        return items

    async def main():
        q = BatchQueue("t", work, max_batch=8, max_wait=0.0, capacity=8)
        q.start()
        first = asyncio.ensure_future(q.submit("first"))
        while q.running == 0:
            await asyncio.sleep(0)
        gone = asyncio.ensure_future(q.submit("gone"))
        kept = asyncio.ensure_future(q.submit("kept"))
        await asyncio.sleep(0)
        gone.cancel()
        gate.set()
        out = await asyncio.gather(first, kept)
        await q.stop()
        return out

    assert run(main()) == ["first", "kept"] and seen == ["first", "kept"]


def test_concurrent_uploads_share_a_forward_pass_through_the_http_server():
    """16 clients at once against a live server: the requests that arrive while the first batch runs
    go through the model together (the engine records its batch sizes), and each client gets the
    answer for its own audio."""
    models, engine = gated_models()
    n = 16
    with running_server(models, ServeSettings(max_batch=16, batch_wait_ms=0)) as url:
        results: dict[int, str] = {}

        def send(k):
            clip = wav_bytes(np.full(800 + 80 * k, 0.1, np.float32), 8000)  # a length per client
            with httpx.Client(base_url=url, timeout=60) as c:
                results[k] = c.post("/v1/audio/transcriptions", files={"file": (f"{k}.wav", clip)}).json()["text"]

        threads = [threading.Thread(target=send, args=(k,)) for k in range(n)]
        threads[0].start()
        assert engine.entered.wait(30)
        for t in threads[1:]:
            t.start()
        with httpx.Client(base_url=url) as c:
            while c.get("/healthz").json()["queues"]["asr"]["waiting"] < n - 1:
                threading.Event().wait(0.01)
        engine.release.set()
        for t in threads:
            t.join(60)
    assert engine.batch_sizes == [1, n - 1]
    assert results == {k: f"{800 + 80 * k} samples" for k in range(n)}
