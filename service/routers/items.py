"""The gallery: browse items, their images and overlays, and "more like this"."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BeforeValidator
from starlette.concurrency import run_in_threadpool

from service.deps import MetricsDep, ReaderDep, SearcherDep, SettingsDep
from service.ranking import Filter
from service.responses import to_item, to_search_response
from service.routers.search import (
    ExplainParam,
    InlineParam,
    KParam,
    LabelParam,
    MinScoreParam,
    OffsetParam,
    check_k,
)
from service.schemas import ItemOut, ItemPage, LabelCount, SearchResponse, error_responses

router = APIRouter(prefix="/items", tags=["items"], dependencies=[ReaderDep])

MAX_PAGE = 200
# Ids and offsets go to SQLite and FAISS as 64-bit integers; a larger one would overflow there.
MAX_INT64 = 2**63 - 1

ITEM_ERRORS = error_responses(404, 422, 503)
# Gallery files keep their format; FileResponse names it from the file's extension.
IMAGE_CONTENT = {"content": {"image/*": {}}, "description": "the image file"}
PNG_CONTENT = {"content": {"image/png": {}}, "description": "PNG"}

# Digits only: no sign, spaces, underscores, decimals or leading zeros (int() takes all of those,
# so " 1", "+1", "01", "1.0" and "1_0" would all name item 1).
ID_DIGITS = re.compile(r"0|[1-9][0-9]*")


def check_id_digits(value: object) -> object:
    """Refuse (422) a path id that is not plain decimal digits."""
    if isinstance(value, str) and not ID_DIGITS.fullmatch(value):
        raise ValueError("an item id is decimal digits, without sign, spaces or leading zeros")
    return value


ItemId = Annotated[
    int,
    Path(ge=0, le=MAX_INT64, description="a gallery item's id (decimal digits)"),
    BeforeValidator(check_id_digits),  # after Path, so the schema keeps minimum and maximum
]


@router.get("", responses=error_responses(422, 503))
def list_items(
    request: Request,
    searcher: SearcherDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
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


@router.get("/{item_id}", responses=ITEM_ERRORS)
def get_item(item_id: ItemId, request: Request, searcher: SearcherDep) -> ItemOut:
    """One item."""
    return to_item(request.scope.get("root_path", ""), searcher.gallery.item(item_id))


@router.get(
    "/{item_id}/image", response_class=FileResponse, responses={200: IMAGE_CONTENT, **ITEM_ERRORS}
)
def get_item_image(item_id: ItemId, searcher: SearcherDep) -> FileResponse:
    """The item's image file, served from inside the indexed gallery only."""
    return FileResponse(searcher.gallery.item_path(item_id))


@router.get(
    "/{item_id}/overlay", response_class=Response, responses={200: PNG_CONTENT, **ITEM_ERRORS}
)
def get_item_overlay(item_id: ItemId, searcher: SearcherDep) -> Response:
    """The item's pivotal-region heatmap blended on its image, as PNG."""
    return Response(searcher.explainer.item_overlay_png(item_id), media_type="image/png")


@router.get("/{item_id}/similar", response_model_exclude_none=True, responses=ITEM_ERRORS)
async def similar_items(
    item_id: ItemId,
    request: Request,
    searcher: SearcherDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: KParam = 10,
    explain: ExplainParam = False,
    inline: InlineParam = False,
    label: LabelParam = None,
    offset: OffsetParam = 0,
    min_score: MinScoreParam = None,
) -> SearchResponse:
    """The ``k`` items most similar to a gallery item (the item itself left out), optionally
    among one ``label``'s items and scoring at least ``min_score``, from rank ``offset`` on."""
    check_k(k, settings.max_k)

    def run() -> SearchResponse:  # one threadpool hand-off (see service/routers/search.py)
        where = Filter(label, offset, min_score)
        outcome = searcher.search_item(item_id, k, explain, inline, where)
        metrics.observe_stages(outcome.timings_ms)
        return to_search_response(request.scope.get("root_path", ""), outcome, searcher)

    return await run_in_threadpool(run)
