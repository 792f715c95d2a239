"""Micro-batching: concurrent requests' inputs are grouped into one encoder call on one thread.

A request first :meth:`MicroBatcher.admit` s its images (refused with :class:`QueueFullError` when
the queue is full, before any decoding), then decodes them and :meth:`MicroBatcher.submit` s the
arrays, getting one future per image. The worker thread takes up to ``max_batch`` queued jobs of the
same function. It waits (at most ``max_wait_ms``) for more only while admitted requests are still
decoding; with none on the way it runs at once, so a lone request is never delayed.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# (B, ...) stacked inputs -> B per-item results. Jobs are grouped by equality of this function, so
# bound methods of one object (one encoder) batch together and another object's never mix in.
BatchFn = Callable[[np.ndarray], Sequence[Any]]
EMA_WEIGHT = 0.2  # smoothing of the batch duration used for Retry-After
# The client (address) a request comes from, set by the client-limit middleware; the threadpool
# running the endpoint copies the context, so :meth:`MicroBatcher.admit` sees it.
REQUEST_CLIENT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_client", default=None
)


class QueueFullError(RuntimeError):
    """More images are queued than ``max_queue``; retry after ``retry_after`` seconds."""

    def __init__(self, queued: int, retry_after: int) -> None:
        super().__init__(f"server busy: {queued} images queued for the encoder; retry later")
        self.retry_after = retry_after


class ClientShareError(QueueFullError):
    """One client already holds its share of the queue; its other requests wait their turn."""

    def __init__(self, held: int, share: int, retry_after: int) -> None:
        RuntimeError.__init__(
            self,
            f"too many images of yours in the queue ({held}, at most {share} per client); "
            "retry later",
        )
        self.retry_after = retry_after


class BatcherClosedError(RuntimeError):
    """The batcher was shut down."""


@dataclass
class _Job:
    fn: BatchFn
    array: np.ndarray
    future: Future[Any]


class Admission:
    """Images admitted to the queue but not yet submitted (still being decoded)."""

    def __init__(self, batcher: MicroBatcher, count: int) -> None:
        self.batcher = batcher
        self.remaining = count

    def submit(self, fn: BatchFn, arrays: Sequence[np.ndarray]) -> list[Future[Any]]:
        """Queue admitted arrays; see :meth:`MicroBatcher.submit`."""
        return self.batcher.submit(fn, arrays, admission=self)


class MicroBatcher:
    """Groups queued inputs into batches run by one worker thread.

    Args:
        max_batch: largest batch handed to a function.
        max_wait_ms: longest wait for a batch to fill while admitted requests are decoding.
        max_queue: admitted-but-unfinished images beyond which :meth:`admit` refuses.
        on_batch: called as ``on_batch(batch_size, seconds)`` after each run (metrics).
        max_client_images: images one client (:data:`REQUEST_CLIENT`) may hold admitted at once;
            a client holding none is always let in while the queue has room, so one client
            alone can never fill the queue (None: no per-client share).
    """

    def __init__(
        self,
        max_batch: int = 8,
        max_wait_ms: float = 2.0,
        max_queue: int = 64,
        on_batch: Callable[[int, float], None] | None = None,
        max_client_images: int | None = None,
    ) -> None:
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.max_client_images = max_client_images
        self._held: Counter[str] = Counter()
        self._jobs: deque[_Job] = deque()
        self._incoming = 0
        self._closed = False
        self._batch_seconds = 0.0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="micro-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Images queued or admitted and still decoding."""
        with self._cond:
            return len(self._jobs) + self._incoming

    @property
    def alive(self) -> bool:
        """Whether the worker runs and accepts jobs."""
        return self._thread.is_alive() and not self._closed

    @contextmanager
    def admit(self, count: int = 1) -> Iterator[Admission]:
        """Reserve ``count`` places in the queue while the caller decodes its images.

        Raises:
            QueueFullError: the queue cannot take ``count`` more images (ClientShareError: this
                client already holds its share).
            BatcherClosedError: the batcher was closed.
        """
        client = REQUEST_CLIENT.get()
        with self._cond:
            if self._closed:
                raise BatcherClosedError("the encoder queue is shut down")
            queued = len(self._jobs) + self._incoming
            if queued + count > self.max_queue:
                raise QueueFullError(queued, self._retry_after(queued))
            held = self._held[client] if client is not None else 0
            share = self.max_client_images
            if share is not None and held and held + count > share:
                raise ClientShareError(held, share, self._retry_after(queued))
            self._incoming += count
            if client is not None:
                self._held[client] += count
        admission = Admission(self, count)
        try:
            yield admission
        finally:
            with self._cond:
                self._incoming -= admission.remaining
                admission.remaining = 0
                if client is not None:
                    self._held[client] -= count
                    if self._held[client] <= 0:
                        del self._held[client]
                self._cond.notify_all()

    def submit(
        self, fn: BatchFn, arrays: Sequence[np.ndarray], admission: Admission | None = None
    ) -> list[Future[Any]]:
        """Queue arrays of one shape for ``fn``; each future resolves to its item's result.

        Submissions without an admission (work a request already admitted spawns, such as
        re-encoding its hits) are never refused for a full queue.
        """
        futures: list[Future[Any]] = [Future() for _ in arrays]
        with self._cond:
            if self._closed:
                raise BatcherClosedError("the encoder queue is shut down")
            if admission is not None:
                used = min(admission.remaining, len(arrays))
                admission.remaining -= used
                self._incoming -= used
            self._jobs.extend(_Job(fn, a, f) for a, f in zip(arrays, futures, strict=True))
            self._cond.notify_all()
        return futures

    def run(self, fn: BatchFn, arrays: Sequence[np.ndarray], timeout: float = 60.0) -> list[Any]:
        """Submit and wait for every result (the first error is raised)."""
        return [future.result(timeout) for future in self.submit(fn, arrays)]

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting jobs, finish the queued ones, and stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _retry_after(self, queued: int) -> int:
        """Seconds until the queue has likely drained (at least 1)."""
        batches = queued / self.max_batch + 1
        return max(1, math.ceil(batches * self._batch_seconds))

    def _take(self, fn: BatchFn | None, limit: int) -> list[_Job]:
        """Remove up to ``limit`` queued jobs of ``fn`` (of the first job's when None), in order."""
        taken: list[_Job] = []
        rest: deque[_Job] = deque()
        for job in self._jobs:
            fn = job.fn if fn is None else fn
            if len(taken) < limit and job.fn == fn:
                if job.future.set_running_or_notify_cancel():
                    taken.append(job)
            else:
                rest.append(job)
        self._jobs = rest
        return taken

    def _next_batch(self) -> list[_Job] | None:
        """Block for the next batch; None once closed and drained."""
        with self._cond:
            while not self._jobs and not self._closed:
                self._cond.wait()
            if not self._jobs:
                return None
            batch = self._take(None, self.max_batch)
            deadline = time.monotonic() + self.max_wait
            while batch and len(batch) < self.max_batch and self._incoming > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)
                batch += self._take(batch[0].fn, self.max_batch - len(batch))
            return batch

    def _work(self) -> None:
        """Worker loop: run batches until closed and drained."""
        while (batch := self._next_batch()) is not None:
            if batch:
                self._run(batch)

    def _run(self, batch: list[_Job]) -> None:
        """Run one batch and resolve its futures (an error fails every job of the batch)."""
        start = time.perf_counter()
        try:
            results = batch[0].fn(np.stack([job.array for job in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"batch function returned {len(results)} for {len(batch)}")
        except Exception as err:  # noqa: BLE001 - handed to every waiting request
            logger.exception("batch of %d failed", len(batch))
            for job in batch:
                job.future.set_exception(err)
        else:
            for job, result in zip(batch, results, strict=True):
                job.future.set_result(result)
        seconds = time.perf_counter() - start
        self._batch_seconds = (1 - EMA_WEIGHT) * self._batch_seconds + EMA_WEIGHT * seconds
        if self.on_batch is not None:
            self.on_batch(len(batch), seconds)
