"""MicroBatcher: grouping under concurrency, no added latency alone, bounded queue, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.batcher import BatcherClosedError, MicroBatcher, QueueFullError


class RecordingFn:
    """A batch function that records batch sizes and returns each row's sum."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.sizes: list[int] = []

    def __call__(self, batch: np.ndarray) -> list[float]:
        self.sizes.append(len(batch))
        time.sleep(self.seconds)
        return [float(row.sum()) for row in batch]


@pytest.fixture()
def batcher() -> Iterator[MicroBatcher]:
    instance = MicroBatcher(max_batch=8, max_wait_ms=2.0, max_queue=64)
    yield instance
    instance.close()


def test_concurrent_submissions_are_grouped_and_results_stay_with_their_inputs(
    batcher: MicroBatcher,
) -> None:
    fn = RecordingFn(seconds=0.02)
    start = threading.Barrier(16)

    def one_request(value: int) -> float:
        start.wait()
        with batcher.admit() as admission:
            return admission.submit(fn, [np.full(3, value, np.float32)])[0].result(10)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one_request, range(16)))
    assert results == [3.0 * v for v in range(16)]
    assert sum(fn.sizes) == 16
    assert max(fn.sizes) > 1 and max(fn.sizes) <= 8
    assert len(fn.sizes) < 16


def test_a_lone_request_is_not_delayed_by_max_wait() -> None:
    slow_wait = MicroBatcher(max_batch=8, max_wait_ms=500.0)
    try:
        fn = RecordingFn()
        started = time.perf_counter()
        with slow_wait.admit() as admission:
            admission.submit(fn, [np.ones(2, np.float32)])[0].result(5)
        assert time.perf_counter() - started < 0.25
        assert fn.sizes == [1]
    finally:
        slow_wait.close()


def test_waits_for_admitted_requests_still_decoding() -> None:
    waiting = MicroBatcher(max_batch=8, max_wait_ms=2000.0)
    try:
        fn = RecordingFn()
        with waiting.admit() as second:
            with waiting.admit() as first:
                future = first.submit(fn, [np.ones(2, np.float32)])[0]
            time.sleep(0.05)  # the second request "decodes" while the first waits for it
            other = second.submit(fn, [np.ones(2, np.float32)])[0]
        assert future.result(5) == other.result(5) == 2.0
        assert fn.sizes == [2]
    finally:
        waiting.close()


def test_an_abandoned_admission_releases_the_waiting_batch() -> None:
    waiting = MicroBatcher(max_batch=8, max_wait_ms=5000.0)
    try:
        fn = RecordingFn()
        started = time.perf_counter()
        with pytest.raises(ValueError), waiting.admit() as failing:
            with waiting.admit() as first:
                future = first.submit(fn, [np.ones(2, np.float32)])[0]
            assert failing.remaining == 1
            raise ValueError("decode failed")
        assert future.result(5) == 2.0
        assert time.perf_counter() - started < 2.0
    finally:
        waiting.close()


def test_full_queue_is_refused_at_once_with_retry_after() -> None:
    small = MicroBatcher(max_batch=2, max_queue=2)
    try:
        with small.admit(2):
            assert small.depth == 2
            with pytest.raises(QueueFullError) as caught, small.admit(1):
                pass
            assert caught.value.retry_after >= 1
        assert small.depth == 0
        with small.admit(2):
            pass
    finally:
        small.close()


def test_batches_never_mix_functions(batcher: MicroBatcher) -> None:
    first, second = RecordingFn(0.01), RecordingFn(0.01)
    futures = []
    for index in range(12):
        fn = first if index % 2 else second
        futures += batcher.submit(fn, [np.full(2, index, np.float32)])
    assert [f.result(5) for f in futures] == [2.0 * i for i in range(12)]
    assert sum(first.sizes) == sum(second.sizes) == 6


def test_an_error_fails_its_batch_only(batcher: MicroBatcher) -> None:
    def broken(batch: np.ndarray) -> list[float]:
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError, match="encoder failed"):
        batcher.run(broken, [np.ones(2, np.float32)])
    assert batcher.run(RecordingFn(), [np.ones(2, np.float32)]) == [2.0]


def test_close_finishes_queued_jobs_then_refuses() -> None:
    instance = MicroBatcher(max_batch=2)
    fn = RecordingFn(0.01)
    futures = instance.submit(fn, [np.ones(1, np.float32)] * 5)
    instance.close()
    assert [f.result(1) for f in futures] == [1.0] * 5
    assert not instance.alive
    with pytest.raises(BatcherClosedError):
        instance.submit(fn, [np.ones(1, np.float32)])
