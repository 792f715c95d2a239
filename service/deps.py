"""Request dependencies: settings, the searcher in service, the batcher, metrics, admin key.

The per-request lookups are ``async def``: FastAPI runs a plain ``def`` dependency in the
threadpool, one thread hand-off each (four per search, about 0.4 ms in all on two quiet cores),
while these only read ``request.state`` and never block.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from service.batcher import MicroBatcher
from service.config import Settings
from service.prometheus_metrics import ServiceMetrics
from service.searcher import Searcher
from service.searcher_slot import SearcherSlot


async def get_settings_state(request: Request) -> Settings:
    """The settings the lifespan loaded."""
    return request.state.settings


async def get_slot(request: Request) -> SearcherSlot:
    """The holder of the searcher in service (503 before the lifespan has loaded it)."""
    slot = getattr(request.state, "slot", None)
    if slot is None:
        raise HTTPException(503, "model and index are not loaded")
    return slot


async def get_batcher(request: Request) -> MicroBatcher:
    """The shared micro-batcher."""
    return request.state.batcher


async def get_metrics(request: Request) -> ServiceMetrics:
    """This app's metrics."""
    return request.state.metrics


async def get_searcher(slot: Annotated[SearcherSlot, Depends(get_slot)]) -> Searcher:
    """The searcher in service when the request starts; the request keeps it through a reload."""
    searcher = slot.current
    if searcher is None:
        raise HTTPException(503, "model and index are not loaded")
    return searcher


# A security scheme rather than a plain header parameter: the OpenAPI schema then says that
# /admin needs a key (and fuzzers check that a missing or wrong one is refused).
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)


def require_admin(
    settings: Annotated[Settings, Depends(get_settings_state)],
    x_api_key: Annotated[str | None, Security(API_KEY_HEADER)] = None,
) -> None:
    """Check ``X-API-Key`` against ``LODISC_API_KEY`` in constant time.

    Raises:
        HTTPException: 403 when no key is configured (admin disabled) or the key is wrong,
            401 when the header is missing.
    """
    expected = settings.api_key.get_secret_value() if settings.api_key else ""
    if not expected:
        raise HTTPException(403, "admin endpoints are disabled: LODISC_API_KEY is not set")
    if not x_api_key:
        raise HTTPException(401, "missing X-API-Key header", {"WWW-Authenticate": "X-API-Key"})
    if not key_matches(x_api_key, expected):
        raise HTTPException(403, "wrong API key")


def key_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of an ``X-API-Key`` with a configured key."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


async def require_reader(request: Request) -> None:
    """With ``LODISC_READ_API_KEY`` set, searching and browsing need ``X-API-Key``: that key or
    the admin key (compared in constant time). Unset, they are open.

    A plain header read rather than a security scheme: the schema declares the requirement only
    where the deployment has it (``service.main.document_limits``).

    Raises:
        HTTPException: 401 when the header is missing, 403 when the key is wrong.
    """
    settings: Settings = request.state.settings
    reader = settings.read_api_key.get_secret_value() if settings.read_api_key else ""
    if not reader:
        return
    given = request.headers.get(API_KEY_HEADER.model.name, "")
    if not given:
        raise HTTPException(401, "missing X-API-Key header", {"WWW-Authenticate": "X-API-Key"})
    admin = settings.api_key.get_secret_value() if settings.api_key else ""
    if not (key_matches(given, reader) | key_matches(given, admin)):  # both compared, always
        raise HTTPException(403, "wrong API key")


SettingsDep = Annotated[Settings, Depends(get_settings_state)]
SlotDep = Annotated[SearcherSlot, Depends(get_slot)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
AdminDep = Depends(require_admin)
ReaderDep = Depends(require_reader)
