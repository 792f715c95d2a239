"""Searcher results -> response models, with URLs relative to the app's root path."""

from __future__ import annotations

from lodisc.index_format.catalog import Item
from service.overlay import png_data_uri
from service.schemas import (
    BatchSearchResponse,
    CorrespondenceOut,
    IndexVersion,
    ItemOut,
    QueryResults,
    SearchHit,
    SearchResponse,
    Timings,
)
from service.search_outcome import HitResult, QueryResult, SearchOutcome
from service.searcher import Searcher


def image_url(base: str, item_id: int) -> str:
    """URL of an item's image."""
    return f"{base}/items/{item_id}/image"


def overlay_url(base: str, item_id: int) -> str:
    """URL of an item's overlay PNG."""
    return f"{base}/items/{item_id}/overlay"


def to_item(base: str, item: Item) -> ItemOut:
    """A catalog item for the API."""
    return ItemOut(
        id=item.id,
        label=item.label,
        width=item.width,
        height=item.height,
        image_url=image_url(base, item.id),
        overlay_url=overlay_url(base, item.id),
    )


def to_hit(base: str, result: HitResult) -> SearchHit:
    """One result; explain fields only when the hit was explained."""
    hit = result.hit
    explained = result.correspondences is not None
    return SearchHit(
        id=hit.id,
        score=hit.score,
        label=hit.item.label,
        image_url=image_url(base, hit.id),
        overlay_url=overlay_url(base, hit.id) if explained else None,
        overlay=png_data_uri(result.overlay_png) if result.overlay_png else None,
        correspondences=None
        if result.correspondences is None
        else [
            CorrespondenceOut(query_patch=c.query_patch, hit_patch=c.hit_patch, score=c.score)
            for c in result.correspondences
        ],
    )


def to_query(base: str, query: QueryResult) -> QueryResults:
    """Hits of one query image and its inline overlay."""
    overlay = png_data_uri(query.overlay_png) if query.overlay_png else None
    return QueryResults(results=[to_hit(base, r) for r in query.hits], query_overlay=overlay)


def to_search_response(base: str, outcome: SearchOutcome, searcher: Searcher) -> SearchResponse:
    """The response of a single-query search."""
    query = to_query(base, outcome.queries[0])
    return SearchResponse(
        results=query.results,
        query_overlay=query.query_overlay,
        timings_ms=Timings(**outcome.timings_ms),
        model_version=searcher.model_version,
        index_version=IndexVersion(**searcher.index_version),
    )


def to_batch_response(base: str, outcome: SearchOutcome, searcher: Searcher) -> BatchSearchResponse:
    """The response of a batch search, queries in upload order."""
    return BatchSearchResponse(
        queries=[to_query(base, q) for q in outcome.queries],
        timings_ms=Timings(**outcome.timings_ms),
        model_version=searcher.model_version,
        index_version=IndexVersion(**searcher.index_version),
    )
