"""Pure ASGI middleware: request metrics, request-body size limit and CORS from the settings.

The settings are only known once the lifespan has run (``create_app`` never reads them), so the
body limit and CORS read them from the lifespan state that the server copies into each request.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.config import Settings
from service.prometheus_metrics import ServiceMetrics

MULTIPART_SLACK = 64 * 1024  # multipart boundaries, part headers and the small form fields
BATCH_PATH = "/search/batch"


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
    """413 for bodies over the limit: from Content-Length at once, else while the body streams."""

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
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, too_large(received, limit))
            return message

        await self.app(scope, limited_receive, send)


def too_large(size: int, limit: int) -> str:
    """The 413 message."""
    return f"request body of {size}+ bytes is over the limit of {limit} bytes"


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    """Send a complete JSON response from middleware."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
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
