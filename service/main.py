"""The app: ``uvicorn service.main:app`` (settings from ``LODISC_*`` variables or ``.env``).

``create_app`` reads no settings; the lifespan does, loads the searcher once and starts the
micro-batcher, so importing this module has no side effects beyond building the routes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from threadpoolctl import threadpool_limits

from service.batcher import BatcherClosedError, MicroBatcher, QueueFullError
from service.compatibility import IndexMismatchError
from service.config import Settings, get_settings
from service.decode_budget import DecodeGate, configure_allocator
from service.deps import API_KEY_HEADER
from service.gallery_items import ItemNotFoundError
from service.generation_watch import start_generation_watch
from service.image_structure import StructureLimits
from service.images import DecodePolicy, ImageInputError, set_decode_policy, set_pixel_guard
from service.middleware import (
    BodyLimitMiddleware,
    ClientLimitMiddleware,
    DisconnectWatchMiddleware,
    RequestMetricsMiddleware,
    SecurityHeadersMiddleware,
    SettingsCORSMiddleware,
)
from service.prometheus_metrics import ServiceMetrics
from service.routers import admin, docs, health, items, search
from service.schemas import ErrorOut, error_responses
from service.searcher import Searcher
from service.searcher_slot import SearcherSlot

logger = logging.getLogger(__name__)

THREADPOOL_HEADROOM = 16  # threads beyond max_queue for requests that never queue (browse, health)
MIB = 1024 * 1024
SCHEME_NAME = API_KEY_HEADER.scheme_name  # the admin routes' security scheme, reused for reads
ERROR_REF = f"#/components/schemas/{ErrorOut.__name__}"


def decode_policy(settings: Settings) -> DecodePolicy:
    """The upload decode budget and memory gate of these settings."""
    limits = StructureLimits(
        max_jpeg_scans=settings.max_jpeg_scans,
        max_jpeg_segments=settings.max_jpeg_segments,
        max_png_chunks=settings.max_png_chunks,
    )
    gate = DecodeGate(settings.decode_memory_mb * MIB)
    return DecodePolicy(limits, settings.decode_timeout_s, gate)


def limit_blas_threads(threads: int) -> None:
    """Cap numpy's BLAS thread pool, process-wide (0: leave its default).

    The request path's matrix products (token coverage, match maps, re-ranking) are small; a
    BLAS pool sized to the cores then spins and takes them from ONNX Runtime's threads.
    """
    if threads:
        threadpool_limits(threads, user_api="blas")


def start_service(settings: Settings, metrics: ServiceMetrics) -> dict[str, Any]:
    """Start the batcher and load the searcher; the lifespan state every request sees.

    Pillow's pixel guard is process-wide: it is set here and restored at shutdown (tests run
    several apps in one process).

    Raises:
        ModelError, IndexFileError, IndexMismatchError: naming the file at fault.
    """
    previous_guard = set_pixel_guard(settings.max_pixels)
    previous_policy = set_decode_policy(decode_policy(settings))
    configure_allocator()
    limit_blas_threads(settings.blas_threads)
    batcher = MicroBatcher(
        settings.max_batch,
        settings.max_wait_ms,
        settings.max_queue,
        metrics.observe_batch,
        settings.max_client_images,
    )
    try:
        searcher = Searcher.load(settings.model_path, settings.index_dir, batcher, settings)
    except Exception as err:
        batcher.close()
        set_pixel_guard(previous_guard)
        set_decode_policy(previous_policy)
        logger.error("cannot start the service: %s", err)
        raise
    slot = SearcherSlot(searcher)
    return {
        "settings": settings,
        "slot": slot,
        "watch": start_generation_watch(slot, batcher, settings),  # None: LODISC_WATCH_INTERVAL_S=0
        "batcher": batcher,
        "metrics": metrics,
        "previous_pixel_guard": previous_guard,
        "previous_decode_policy": previous_policy,
    }


def load_settings() -> Settings:
    """:func:`get_settings`, with a message naming the environment variables that are missing."""
    try:
        return get_settings()
    except ValidationError as err:
        names = ", ".join(f"LODISC_{str(e['loc'][0]).upper()}" for e in err.errors() if e["loc"])
        raise RuntimeError(f"invalid or missing service settings ({names}): {err}") from err


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app; ``settings`` default to :func:`get_settings`, read at startup."""
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        resolved = settings or load_settings()
        state = await run_in_threadpool(start_service, resolved, metrics)
        document_limits(app, resolved)
        # Endpoints hold a worker thread while their images wait in the queue: allow enough
        # threads to fill it, so a full queue answers 429 rather than stalling in the pool.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, resolved.max_queue + THREADPOOL_HEADROOM)
        try:
            yield state
        finally:
            if state["watch"] is not None:
                state["watch"].stop()
            state["slot"].swap(None)
            state["batcher"].close()
            set_pixel_guard(state["previous_pixel_guard"])
            set_decode_policy(state["previous_decode_policy"])

    app = FastAPI(
        title="LoDisc fine-grained image retrieval",
        version="0.1.0",
        summary="Search a gallery by image; every hit can come with an explanation.",
        lifespan=lifespan,
        docs_url=None,  # served by routers/docs.py with local assets
        redoc_url=None,
    )
    # Innermost first: the disconnect watch sees the body as the app reads it; the client limit
    # answers 429 before the body limit reads anything; every response gets nosniff.
    app.add_middleware(DisconnectWatchMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(ClientLimitMiddleware)
    app.add_middleware(SettingsCORSMiddleware)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    add_exception_handlers(app, metrics)
    for module in (search, items, health, admin, docs):
        app.include_router(module.router)
    app.mount(docs.ASSETS, docs.docs_assets(), name="docs-assets")
    return app


def document_limits(app: FastAPI, settings: Settings) -> None:
    """Write the limits known only at startup (``max_k``, ``max_images``) into the OpenAPI schema.

    FastAPI builds the schema once and caches it in ``app.openapi_schema``; this builds it afresh
    for these settings and edits the cached copy, so clients and fuzzers see the real bounds.
    """
    app.openapi_schema = None
    schema = app.openapi()
    for path in schema["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["name"] == "k":
                    parameter["schema"]["maximum"] = settings.max_k
    # /search takes image or (when enabled) image_url; the schema names image as the required
    # field, so clients and fuzzers send an image (image_url alone is refused unless enabled).
    schema["paths"]["/search"]["post"]["requestBody"]["required"] = True
    single = schema["paths"]["/search"]["post"]["requestBody"]["content"]["multipart/form-data"]
    single_ref = single["schema"]["$ref"].rsplit("/", 1)[-1]
    schema["components"]["schemas"][single_ref]["required"] = ["image"]
    if settings.read_api_key:
        require_key_in_schema(schema, ("/search", "/items"))
    batch = schema["paths"]["/search/batch"]["post"]["requestBody"]["content"]
    body_ref = batch["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    schema["components"]["schemas"][body_ref]["properties"]["images"]["maxItems"] = (
        settings.max_images
    )


def require_key_in_schema(schema: dict[str, Any], prefixes: tuple[str, ...]) -> None:
    """Declare ``X-API-Key`` (and its 401/403 answers) on the operations under ``prefixes``."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes.setdefault(SCHEME_NAME, {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    refused = error_responses(401, 403)
    for path, operations in schema["paths"].items():
        if not path.startswith(prefixes):
            continue
        for operation in operations.values():
            operation["security"] = [{SCHEME_NAME: []}]
            for status in (401, 403):
                operation["responses"].setdefault(
                    str(status),
                    {
                        "description": refused[status]["description"],
                        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                    },
                )


def add_exception_handlers(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Map the searcher's exceptions to HTTP statuses with a JSON ``detail``."""

    def detail(status: int, err: Exception, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status, headers)

    async def bad_image(request: Request, err: Exception) -> JSONResponse:
        return detail(err.status if isinstance(err, ImageInputError) else 400, err)

    async def queue_full(request: Request, err: Exception) -> JSONResponse:
        metrics.rejected.labels("queue_full").inc()
        retry = err.retry_after if isinstance(err, QueueFullError) else 1
        return detail(429, err, {"Retry-After": str(retry)})

    async def unavailable(request: Request, err: Exception) -> JSONResponse:
        return detail(503, err if str(err) else RuntimeError("the encoder timed out"))

    async def not_found(request: Request, err: Exception) -> JSONResponse:
        return detail(404, err)

    async def mismatch(request: Request, err: Exception) -> JSONResponse:
        return detail(409, err)

    app.add_exception_handler(ImageInputError, bad_image)
    app.add_exception_handler(QueueFullError, queue_full)
    app.add_exception_handler(BatcherClosedError, unavailable)
    app.add_exception_handler(TimeoutError, unavailable)
    app.add_exception_handler(ItemNotFoundError, not_found)
    app.add_exception_handler(IndexMismatchError, mismatch)


app = create_app()
