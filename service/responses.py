"""Searcher results -> response models, with URLs relative to the app's root path."""

from __future__ import annotations

from typing import Any

import numpy as np

from lodisc.index_format.catalog import Item
from lodisc.inference.image_preprocess import crop_box
from service.calibration import MatchGrade, ScoreCalibration, vote_label
from service.overlay import png_data_uri
from service.schemas import (
    BatchSearchResponse,
    CorrespondenceOut,
    IndexVersion,
    ItemOut,
    PredictedLabel,
    QueryAnswer,
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


def _rounded(values: np.ndarray) -> list[list[float]]:
    """A (rows, cols) map as nested lists, 3 decimals (a few KB per hit at 14 x 14)."""
    return np.round(values.astype(np.float64), 3).tolist()


def view_box(width: int, height: int, spec: dict[str, Any]) -> list[float]:
    """The region of a (width, height) image the model sees (and the patch grid covers), as
    [left, top, right, bottom] fractions of the image's width and height."""
    left, top, right, bottom = crop_box(width, height, spec)
    return [round(v, 5) for v in (left / width, top / height, right / width, bottom / height)]


def to_hit(
    base: str,
    result: HitResult,
    spec: dict[str, Any],
    calibration: ScoreCalibration | None,
    query: QueryResult,
) -> SearchHit:
    """One result; calibrated fields where the index has a calibration, explain fields only when
    the hit was explained."""
    hit = result.hit
    explained = result.correspondences is not None
    match = result.match
    grade: MatchGrade | None = None
    confidence: float | None = None
    near_duplicate = False
    if calibration is not None:
        grade = calibration.match(hit.cosine, query.covered)
        confidence = round(float(calibration.confidence(np.asarray(hit.cosine))), 4)
        near_duplicate = hit.cosine >= calibration.duplicate_score
    return SearchHit(
        match=grade,
        confidence=confidence,
        duplicate=hit.item.sha256 == query.sha256 or near_duplicate,
        match_map=_rounded(match.hit_map) if match else None,
        query_match_map=_rounded(match.query_map) if match else None,
        crop_box=view_box(hit.item.width, hit.item.height, spec) if explained else None,
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


def to_query(base: str, query: QueryResult, searcher: Searcher) -> QueryResults:
    """Hits of one query image, its inline overlay, and (explained) the grid and crop boxes."""
    spec = searcher.encoder.preprocessing
    overlay = png_data_uri(query.overlay_png) if query.overlay_png else None
    size = query.image_size
    scores = np.array([r.hit.score for r in query.hits], dtype=np.float32)
    vote = vote_label([r.hit.item.label for r in query.hits], scores)
    calibration = searcher.calibration
    return QueryResults(
        error=query.error,
        status=query.error_status,
        results=[to_hit(base, r, spec, calibration, query) for r in query.hits],
        query_overlay=overlay,
        predicted_label=PredictedLabel(label=vote[0], confidence=round(vote[1], 4))
        if vote
        else None,
        grid=searcher.encoder.grid_size if query.explained else None,
        query_crop_box=view_box(size[0], size[1], spec) if size else None,
    )


def to_search_response(base: str, outcome: SearchOutcome, searcher: Searcher) -> SearchResponse:
    """The response of a single-query search."""
    query = to_query(base, outcome.queries[0], searcher)
    return SearchResponse(
        **{name: getattr(query, name) for name in QueryAnswer.model_fields},
        timings_ms=Timings(**outcome.timings_ms),
        model_version=searcher.model_version,
        index_version=IndexVersion(**searcher.index_version),
    )


def to_batch_response(base: str, outcome: SearchOutcome, searcher: Searcher) -> BatchSearchResponse:
    """The response of a batch search, queries in upload order."""
    return BatchSearchResponse(
        queries=[to_query(base, q, searcher) for q in outcome.queries],
        timings_ms=Timings(**outcome.timings_ms),
        model_version=searcher.model_version,
        index_version=IndexVersion(**searcher.index_version),
    )
