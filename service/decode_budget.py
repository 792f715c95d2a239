"""Bounds on the work and memory of decoding uploads: a deadline, the client's disconnect, and a
gate that admits concurrent decodes by the memory they will take.

The decoder reads its input through :class:`BudgetedReader`, which checks the deadline and the
disconnect on every read (Pillow reads 64 KiB at a time), so an abandoned or over-long decode
stops at its next read. Freed decode buffers are handed back to the OS (:func:`release_memory`)
so that resident memory comes back down after a burst of large images.
"""

from __future__ import annotations

import contextvars
import ctypes
import ctypes.util
import io
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

# Set by the disconnect-watching middleware for each request; the threadpool copies the context.
REQUEST_DISCONNECTED: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "request_disconnected", default=None
)
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter (malloc.h)
# Allocations from this size up get their own mmap and go back to the OS when freed. Setting it
# also turns off glibc's sliding threshold, which after the first large free moves up to 32 MiB
# and lets every later 16 MiB Pillow block land in an arena that is never trimmed.
MMAP_THRESHOLD_BYTES = 1 << 20
TRIM_AFTER_BYTES = 32 << 20  # decodes at least this large trim the heap when the gate empties
# Decodes over this share of the gate count as large; together they may fill only LARGE_SHARE of
# it, so a stream of large images never shuts out the small ones (most searches).
LARGE_FRACTION = 0.125
LARGE_SHARE = 0.75


class DecodeAbortedError(RuntimeError):
    """The decode ran out of time, waited too long for memory, or its client went away."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class DecodeBudget:
    """A deadline and the request's disconnect flag, checked between decoder reads.

    Args:
        seconds: how long the whole decode (waiting for the gate included) may take.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.disconnected = REQUEST_DISCONNECTED.get()

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once passed)."""
        return self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise :class:`DecodeAbortedError` if the client left or the deadline passed."""
        if self.disconnected is not None and self.disconnected.is_set():
            raise DecodeAbortedError("the client disconnected: decoding stopped", 400)
        if self.remaining() < 0:
            raise DecodeAbortedError(
                f"the image took over {self.seconds:g} s to decode: decoding stopped", 400
            )


class BudgetedReader(io.BytesIO):
    """In-memory upload bytes whose reads check a :class:`DecodeBudget` first."""

    def __init__(self, data: bytes, budget: DecodeBudget) -> None:
        super().__init__(data)
        self.budget = budget

    def read(self, size: int | None = -1) -> bytes:
        """``BytesIO.read`` after :meth:`DecodeBudget.check`."""
        self.budget.check()
        return super().read(size)


class DecodeGate:
    """A semaphore weighted in bytes: decodes run together while their estimates fit ``capacity``.

    An estimate over the capacity runs alone. Large decodes (over ``LARGE_FRACTION`` of it) may
    hold only ``LARGE_SHARE`` together, the rest is kept for small ones. It is separate from the
    encoder queue: that bounds queued work, this bounds the memory of the decodes running at once.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._trim_pending = False
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, estimate: int, budget: DecodeBudget) -> Iterator[None]:
        """Wait (within the budget) until ``estimate`` bytes fit, and hold them for the block.

        Raises:
            DecodeAbortedError: 429 when the memory did not free up before the deadline.
        """
        large = estimate > self.capacity * LARGE_FRACTION
        limit = int(self.capacity * LARGE_SHARE) if large else self.capacity
        weight = min(max(estimate, 1), limit)
        with self._cond:
            while self.in_use + weight > limit:
                budget.check()
                if not self._cond.wait(min(max(budget.remaining(), 0.0), 0.25)):
                    if budget.remaining() <= 0:
                        raise DecodeAbortedError(
                            "server busy decoding other images; retry later", 429
                        )
            self.in_use += weight
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= weight
                self._trim_pending |= estimate >= TRIM_AFTER_BYTES
                trim = self._trim_pending and self.in_use == 0
                if trim:
                    self._trim_pending = False
                self._cond.notify_all()
            if trim:
                release_memory()


def _libc() -> ctypes.CDLL | None:
    """glibc, or None elsewhere (musl, macOS): the memory calls are then no-ops."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - absent outside glibc
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


LIBC = _libc()


def configure_allocator() -> None:
    """Give large allocations (decoded images, libjpeg buffers) their own, returnable mmaps."""
    if LIBC is not None and not LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        logger.warning("mallopt(M_MMAP_THRESHOLD) failed: freed image memory may stay resident")


def release_memory() -> None:
    """Return the heap's free pages to the OS (glibc ``malloc_trim(0)``)."""
    if LIBC is not None:
        LIBC.malloc_trim(0)
