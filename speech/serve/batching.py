"""A bounded queue in front of a model: requests wait here (at most ``capacity`` of them; one more is
refused at once, which the API turns into a 503), and one worker thread takes them out in batches of
up to ``max_batch``, so that concurrent recognition requests share one forward pass.

The event loop never runs a model: :meth:`BatchQueue.submit` awaits a future that the worker thread
completes. A batch starts as soon as the worker is free; its first request waits at most
``max_wait`` seconds for others to join it, and requests that arrived while the previous batch ran
are already there, so batches grow with the load and cost nothing when the server is idle.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Generic, Sequence, TypeVar

T = TypeVar("T")
log = logging.getLogger("speech.serve")


class QueueFull(Exception):
    """The queue holds ``capacity`` requests already."""

    def __init__(self, name: str, capacity: int):
        self.name, self.capacity = name, capacity
        super().__init__(f"the {name} queue is full ({capacity} requests waiting)")


class BatchQueue(Generic[T]):
    """Requests of type ``T`` in, ``run_batch(list[T]) -> list[result | Exception]`` out, one batch at a
    time on a thread of its own.

    Args:
        name: for messages and metrics (``asr``, ``tts``).
        run_batch: runs one batch; returns one result per request, in order, or the exception that
            request should raise (a bad input must not fail its neighbours).
        max_batch: most requests per call of ``run_batch``.
        max_wait: seconds the first request of a batch waits for company (0: none).
        capacity: most requests waiting (not counting the batch being run).
    """

    def __init__(self, name: str, run_batch: Callable[[list[T]], Sequence[Any]], max_batch: int = 16,
                 max_wait: float = 0.01, capacity: int = 64):
        if max_batch < 1 or capacity < 1 or max_wait < 0:
            raise ValueError(f"{name} queue: max_batch and capacity must be >= 1 and max_wait >= 0")
        self.name = name
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.capacity = capacity
        self._pending: collections.deque[tuple[T, asyncio.Future]] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"speech-{name}")
        # counters read by /metrics
        self.batches = 0
        self.items = 0
        self.rejected = 0
        self.running = 0
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self.busy_seconds = 0.0

    @property
    def depth(self) -> int:
        """Requests waiting now."""
        return len(self._pending)

    def start(self) -> None:
        """Starts the worker on the running event loop (the app's startup)."""
        if self._task is None:
            self._arrived = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._work(), name=f"speech-{self.name}-batches")

    async def stop(self) -> None:
        """Stops taking batches, fails what still waits, and lets the batch in flight finish."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        while self._pending:
            _, fut = self._pending.popleft()
            if not fut.done():
                fut.set_exception(QueueFull(self.name, self.capacity))
        self._executor.shutdown(wait=True)

    async def submit(self, item: T):
        """Queues ``item`` and returns its result once its batch has run.

        Raises:
            QueueFull: ``capacity`` requests are waiting already (nothing was queued).
            Exception: the one ``run_batch`` gave for this request.
        """
        if self._task is None:
            raise RuntimeError(f"{self.name} queue: not started")
        if len(self._pending) >= self.capacity:
            self.rejected += 1
            raise QueueFull(self.name, self.capacity)
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._arrived.set()
        return await fut

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            if len(self._pending) < self.max_batch and self.max_wait > 0:
                deadline = loop.time() + self.max_wait
                while len(self._pending) < self.max_batch and loop.time() < deadline:
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
                    except asyncio.TimeoutError:
                        break
            batch: list[tuple[T, asyncio.Future]] = []
            while self._pending and len(batch) < self.max_batch:
                item, fut = self._pending.popleft()
                if not fut.cancelled():  # its client went away: don't spend the model on it
                    batch.append((item, fut))
            if not batch:
                continue
            self.running = len(batch)
            t0 = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.run_batch, [item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{self.name} batch gave {len(results)} results for {len(batch)} requests")
            except Exception as e:  # the whole batch failed: each request gets the error
                log.exception("%s batch of %d failed", self.name, len(batch))
                results = [e] * len(batch)
            finally:
                self.running = 0
                self.busy_seconds += time.perf_counter() - t0
            self.batches += 1
            self.items += len(batch)
            self.batch_sizes[len(batch)] += 1
            for (_, fut), result in zip(batch, results):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
