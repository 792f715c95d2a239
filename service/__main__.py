"""``python -m service``: uvicorn with the connection timeouts the service needs in production.

uvicorn's ``timeout_keep_alive`` covers idle connections between requests only: a client that
sends its headers one byte a second (or nothing at all) holds a connection for ever. The h11
protocol here closes a connection whose request headers are not complete within
``LODISC_HEADER_TIMEOUT_S``; body reads are bounded by the app (``LODISC_BODY_TIMEOUT_S``, 408).

``LODISC_WORKERS=N`` (N > 1) serves from N processes on one socket (service/replicas.py); they
follow newly published generations on their own (``LODISC_WATCH_INTERVAL_S``, 5 s unless set).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.config import Settings
from service.main import load_settings
from service.replicas import listening_socket, run_workers

HEADER_BYTES = 16 * 1024  # h11's limit on an incomplete request head (its default is 16 KiB too)
KEEP_ALIVE_S = 5
REPLICA_WATCH_S = 5.0  # workers poll the manifest this often unless LODISC_WATCH_INTERVAL_S is set


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head takes over
    ``header_timeout_s`` (from the first byte, or from the connection when none comes)."""

    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        """Feed h11; the clock runs while no request is being handled."""
        super().data_received(data)
        if self._awaiting_head():
            self._start_header_timer()
        else:
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock with the connection."""
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _awaiting_head(self) -> bool:
        """Whether no request is in progress (its head not yet parsed)."""
        return self.cycle is None or self.cycle.response_complete

    def _start_header_timer(self) -> None:
        """Arm the timer unless it runs already."""
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_expired)

    def _cancel_header_timer(self) -> None:
        """Disarm the timer."""
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_expired(self) -> None:
        """Close a connection still waiting for a request head."""
        self._header_timer = None
        if self._awaiting_head() and not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutH11Protocol]:
    """The protocol class with its head timeout set (uvicorn instantiates it per connection)."""
    return type(
        "HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout_s": seconds}
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for ``service.main:app`` under these settings."""
    return {
        "host": settings.host,
        "port": settings.port,
        "http": header_timeout_protocol(settings.header_timeout_s),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": HEADER_BYTES,
    }


def main() -> None:
    """Serve ``service.main:app`` on ``LODISC_HOST:LODISC_PORT`` (``LODISC_WORKERS`` processes)."""
    logging.basicConfig(level=logging.INFO)
    settings = load_settings()
    if settings.workers == 1:
        uvicorn.run("service.main:app", **server_options(settings))
        return
    os.environ.setdefault("LODISC_WATCH_INTERVAL_S", str(REPLICA_WATCH_S))
    sock = listening_socket(settings.host, settings.port)
    logging.getLogger(__name__).info(
        "%d workers on http://%s:%d", settings.workers, settings.host, sock.getsockname()[1]
    )
    sys.exit(run_workers(settings.workers, sock))


if __name__ == "__main__":
    main()
