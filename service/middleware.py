"""Pure ASGI middleware: request metrics, request-body limits (size, batch parts, read timeout),
per-client limits, disconnect watching, ``nosniff`` and CORS from the settings.

The settings are only known once the lifespan has run (``create_app`` never reads them), so these
read them from the lifespan state that the server copies into each request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.batcher import REQUEST_CLIENT
from service.config import Settings
from service.decode_budget import REQUEST_DISCONNECTED
from service.prometheus_metrics import ServiceMetrics

MULTIPART_SLACK = 64 * 1024  # multipart boundaries, part headers and the small form fields
BATCH_PATH = "/search/batch"
SEARCH_PREFIX = "/search"  # the routes whose requests decode and encode uploads


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label values), or ``unmatched``."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


def scope_settings(scope: Scope) -> Settings | None:
    """The settings the lifespan put in the request's state, if it ran."""
    settings = scope.get("state", {}).get("settings")
    return settings if isinstance(settings, Settings) else None


class RequestMetricsMiddleware:
    """Counts requests by method, route template and status, and times them."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_template(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_seconds.labels(scope["method"], route).observe(
                time.perf_counter() - start
            )


def body_limit(settings: Settings, path: str) -> int:
    """Largest request body in bytes for a path."""
    images = settings.max_images if path.rstrip("/").endswith(BATCH_PATH) else 1
    return settings.max_bytes * images + MULTIPART_SLACK


class BodyLimitMiddleware:
    """Limits on request bodies, checked as they stream in, before any part is parsed.

    413 for a body over the byte limit (from Content-Length at once) or a batch with more parts
    than ``max_images`` (counted from the multipart boundaries); 408 when the next piece of the
    body takes over ``body_timeout_s`` to arrive.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = scope_settings(scope) if scope["type"] == "http" else None
        if settings is None:
            await self.app(scope, receive, send)
            return
        limit = body_limit(settings, scope["path"])
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await send_json(send, 413, {"detail": too_large(int(declared), limit)})
            return
        received, complete = 0, False
        parts = PartCounter(headers.get(b"content-type", b""))
        max_parts = settings.max_images if scope["path"].rstrip("/").endswith(BATCH_PATH) else None

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body: only the disconnect, which may come at any time
                return await receive()
            try:
                with anyio.fail_after(settings.body_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408, f"no request body received for {settings.body_timeout_s:g} s"
                ) from None
            chunk = message.get("body", b"")
            complete = not message.get("more_body", False)
            received += len(chunk)
            if received > limit:
                raise HTTPException(413, too_large(received, limit))
            if max_parts is not None and parts.feed(chunk) > max_parts:
                raise HTTPException(413, f"over {max_parts} images: at most {max_parts} per batch")
            return message

        await self.app(scope, limited_receive, send)


class PartCounter:
    """Counts the parts of a multipart body from its boundary lines, across chunk edges."""

    def __init__(self, content_type: bytes) -> None:
        _, _, boundary = content_type.partition(b"boundary=")
        boundary = boundary.split(b";", 1)[0].strip().strip(b'"')
        # A part opens with "--boundary" and a line end; the closing one ends in "--" instead.
        self.delimiter = b"--" + boundary + b"\r\n" if boundary else b""
        self.tail = b""
        self.delimiters = 0

    def feed(self, chunk: bytes) -> int:
        """Take the next piece of the body; returns the parts begun so far."""
        if not self.delimiter:
            return 0
        window = self.tail + chunk
        self.delimiters += window.count(self.delimiter)
        # Keep enough to find a delimiter cut by the chunk edge, but not a whole one (no recount).
        self.tail = window[-(len(self.delimiter) - 1) :] if len(self.delimiter) > 1 else b""
        return self.delimiters


def too_large(size: int, limit: int) -> str:
    """The 413 message."""
    return f"request body of {size}+ bytes is over the limit of {limit} bytes"


async def send_json(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a complete JSON response from middleware."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    headers += extra or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class SettingsCORSMiddleware:
    """Starlette's CORS middleware for ``settings.cors_origins`` (off when the list is empty)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: tuple[tuple[str, ...], ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = scope_settings(scope) if scope["type"] == "http" else None
        origins = tuple(settings.cors_origins) if settings else ()
        if not origins:
            await self.app(scope, receive, send)
            return
        if self._cors is None or self._cors[0] != origins:
            cors = CORSMiddleware(
                self.app,
                allow_origins=list(origins),
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
            )
            self._cors = (origins, cors)
        await self._cors[1](scope, receive, send)


def client_address(scope: Scope) -> str:
    """The client's address (behind a proxy, uvicorn's ``--proxy-headers`` puts the real one)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class ClientLimitMiddleware:
    """Fair to every client: at most ``max_client_requests`` searches per client address at once.

    Over the cap a request gets 429 at once, before its body is read. It also names the client
    for the encoder queue's per-client share (:data:`service.batcher.REQUEST_CLIENT`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._running: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = scope_settings(scope) if scope["type"] == "http" else None
        if settings is None:
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        token = REQUEST_CLIENT.set(client)
        try:
            if scope["method"] != "POST" or not scope["path"].startswith(SEARCH_PREFIX):
                await self.app(scope, receive, send)
                return
            if self._running[client] >= settings.max_client_requests:
                detail = (
                    f"{self._running[client]} searches of yours are running, at most "
                    f"{settings.max_client_requests} at once; retry later"
                )
                await send_json(send, 429, {"detail": detail}, [(b"retry-after", b"1")])
                return
            self._running[client] += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self._running[client] -= 1
                if self._running[client] <= 0:
                    del self._running[client]
        finally:
            REQUEST_CLIENT.reset(token)


class DisconnectWatchMiddleware:
    """Flags a request whose client has gone (:data:`service.decode_budget.REQUEST_DISCONNECTED`).

    Once the app has read the whole body, a task waits for the server's ``http.disconnect``;
    decodes running in the threadpool check the flag between reads and stop.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        disconnected = threading.Event()
        watcher: asyncio.Task[None] | None = None

        async def watch() -> None:
            if (await receive())["type"] == "http.disconnect":
                disconnected.set()

        async def watched_receive() -> Message:
            nonlocal watcher
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
            elif not message.get("more_body", False) and watcher is None:
                watcher = asyncio.ensure_future(watch())
            return message

        token = REQUEST_DISCONNECTED.set(disconnected)
        try:
            await self.app(scope, watched_receive, send)
        finally:
            REQUEST_DISCONNECTED.reset(token)
            if watcher is not None:
                watcher.cancel()


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` on every response: images are never sniffed as HTML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
