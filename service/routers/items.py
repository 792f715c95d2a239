"""The gallery: browse items, their images and overlays, and "more like this"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from service.deps import MetricsDep, SearcherDep, SettingsDep
from service.responses import to_item, to_search_response
from service.routers.search import ExplainParam, InlineParam, KParam, check_k
from service.schemas import ItemOut, ItemPage, LabelCount, SearchResponse

router = APIRouter(prefix="/items", tags=["items"])

MAX_PAGE = 200


@router.get("")
def list_items(
    request: Request,
    searcher: SearcherDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    label: Annotated[str | None, Query(description="only items of this label")] = None,
) -> ItemPage:
    """A page of items in id order, the total matching, and every label with its count."""
    catalog = searcher.gallery.catalog
    items, total = catalog.page(offset, limit, label)
    base = request.scope.get("root_path", "")
    return ItemPage(
        items=[to_item(base, item) for item in items],
        total=total,
        offset=offset,
        limit=limit,
        labels=[LabelCount(label=name, count=n) for name, n in catalog.labels()],
    )


@router.get("/{item_id}")
def get_item(item_id: int, request: Request, searcher: SearcherDep) -> ItemOut:
    """One item."""
    return to_item(request.scope.get("root_path", ""), searcher.gallery.item(item_id))


@router.get("/{item_id}/image", response_class=FileResponse)
def get_item_image(item_id: int, searcher: SearcherDep) -> FileResponse:
    """The item's image file, served from inside the indexed gallery only."""
    return FileResponse(searcher.gallery.item_path(item_id))


@router.get("/{item_id}/overlay", response_class=Response)
def get_item_overlay(item_id: int, searcher: SearcherDep) -> Response:
    """The item's pivotal-region heatmap blended on its image, as PNG."""
    return Response(searcher.item_overlay_png(item_id), media_type="image/png")


@router.get("/{item_id}/similar", response_model_exclude_none=True)
def similar_items(
    item_id: int,
    request: Request,
    searcher: SearcherDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: KParam = 10,
    explain: ExplainParam = False,
    inline: InlineParam = False,
) -> SearchResponse:
    """The ``k`` items most similar to a gallery item (the item itself left out)."""
    check_k(k, settings.max_k)
    outcome = searcher.search_item(item_id, k, explain, inline)
    metrics.observe_stages(outcome.timings_ms)
    return to_search_response(request.scope.get("root_path", ""), outcome, searcher)
