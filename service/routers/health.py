"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.deps import BatcherDep, MetricsDep, SlotDep
from service.schemas import Health, Ready, error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", responses=error_responses(503, s503="model or index not loaded"))
def readyz(slot: SlotDep, batcher: BatcherDep) -> Ready:
    """Model and index are loaded and the encoder queue runs (503 otherwise)."""
    searcher = slot.current
    if searcher is None or not batcher.alive:
        raise HTTPException(503, "model and index are not loaded")
    return Ready(status="ready", **searcher.describe())


PROMETHEUS_TEXT = {"content": {"text/plain": {}}, "description": "Prometheus text format"}


@router.get("/metrics", response_class=Response, responses={200: PROMETHEUS_TEXT})
def metrics(service_metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    return Response(service_metrics.render(), media_type=CONTENT_TYPE_LATEST)
