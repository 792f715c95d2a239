"""Request and response models of the HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

ERROR_DESCRIPTIONS = {
    400: "the upload is not a usable image (empty, not an image, truncated) or not a form",
    401: "the X-API-Key header is missing",
    403: "wrong API key, or admin is disabled (LODISC_API_KEY unset)",
    404: "no such item, or its image is not available",
    408: "the body (or an image URL's body) was not received in time",
    409: "the index was not built with this model",
    413: "the body, a file, or an image's pixels (as sent or once resized) are over a limit",
    422: "invalid parameters (FastAPI's list), or one message from a check made at run time",
    429: "the encoder queue is full: retry after Retry-After seconds",
    503: "model and index are not loaded, or the encoder queue timed out or shut down",
}


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer: what is wrong, fit to show to a person."""

    detail: str


class ValidationProblem(BaseModel):
    """One invalid parameter, as FastAPI reports it."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """422: FastAPI's list of invalid parameters, or one message (``k`` over ``max_k``...)."""

    detail: list[ValidationProblem] | str


def error_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a route's error statuses, with their JSON body models.

    Args:
        statuses: the HTTP statuses the route can answer with besides 200.
        descriptions: route-specific wording by status (``s409="..."``) replacing the default.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = descriptions.get(f"s{status}", ERROR_DESCRIPTIONS[status])
        entry: dict[str, Any] = {"description": description}
        entry["model"] = ValidationErrorOut if status == 422 else ErrorOut
        if status == 429:
            seconds = {"description": "seconds to wait", "schema": {"type": "integer"}}
            entry["headers"] = {"Retry-After": seconds}
        responses[status] = entry
    return responses


class CorrespondenceOut(BaseModel):
    """A pivotal query patch and its most similar patch in the hit, as [row, col] on the grid."""

    query_patch: tuple[int, int]
    hit_patch: tuple[int, int]
    score: float = Field(description="cosine similarity of the two patch tokens")


class PredictedLabel(BaseModel):
    """The label the top hits vote for, weighted by similarity."""

    label: str
    confidence: float = Field(description="share of the vote's weight the label won")


class SearchHit(BaseModel):
    """One result."""

    id: int
    score: float = Field(description="cosine similarity to the query")
    label: str
    match: Literal["strong", "weak", "none"] | None = Field(
        None,
        description="the score against this gallery's own scale: 'none' means nothing in the "
        "gallery is close enough (absent where the index cannot be calibrated)",
    )
    confidence: float | None = Field(
        None,
        description="share of gallery items whose nearest neighbour is less similar than this "
        "hit is to the query (0.5: a typical in-gallery match)",
    )
    duplicate: bool = Field(False, description="the same image or a near-identical one")
    image_url: str
    overlay_url: str | None = Field(None, description="with explain: the hit's heatmap PNG")
    overlay: str | None = Field(None, description="with explain and inline: PNG data URI")
    correspondences: list[CorrespondenceOut] | None = None
    match_map: list[list[float]] | None = Field(
        None,
        description="with explain: rows x cols values in [0, 1], how much each patch of the hit "
        "contributes to this match (the query's pivotal patches matched against the hit's)",
    )
    query_match_map: list[list[float]] | None = Field(
        None,
        description="with explain: rows x cols values in [0, 1], the query patches that drive "
        "this match",
    )
    crop_box: list[float] | None = Field(
        None,
        description="with explain: the region of the hit image the model sees and its patch grid "
        "covers, [left, top, right, bottom] as fractions of the image width and height",
    )


class IndexVersion(BaseModel):
    """Which published index generation answered."""

    generation: str
    built_at: str


class Timings(BaseModel):
    """Milliseconds per stage of this request (0 for stages it did not need)."""

    decode: float = 0.0
    embed: float = 0.0
    search: float = 0.0
    explain: float = 0.0


class QueryAnswer(BaseModel):
    """The hits of one query image and what explains them."""

    results: list[SearchHit]
    query_overlay: str | None = Field(None, description="with explain: PNG data URI")
    predicted_label: PredictedLabel | None = Field(
        None, description="k-NN vote of the hits' labels, where the gallery is labelled"
    )
    grid: tuple[int, int] | None = Field(
        None, description="with explain: the patch grid [rows, cols] of overlays and patches"
    )
    query_crop_box: list[float] | None = Field(
        None,
        description="with explain: the region of the query the model sees, [left, top, right, "
        "bottom] as fractions of its width and height",
    )


class SearchResponse(QueryAnswer):
    """Results of one query."""

    timings_ms: Timings
    model_version: str
    index_version: IndexVersion


class QueryResults(QueryAnswer):
    """Results of one image of a batch (or, for an image that cannot be used, its error)."""

    error: str | None = Field(None, description="why this image could not be searched")
    status: int | None = Field(None, description="the HTTP status it would get on its own")


class BatchSearchResponse(BaseModel):
    """Results per uploaded image, in upload order."""

    queries: list[QueryResults]
    timings_ms: Timings
    model_version: str
    index_version: IndexVersion


class ItemOut(BaseModel):
    """A gallery item."""

    id: int
    label: str
    width: int
    height: int
    image_url: str
    overlay_url: str


class LabelCount(BaseModel):
    """A label and how many items carry it."""

    label: str
    count: int


class ItemPage(BaseModel):
    """A page of gallery items in id order."""

    items: list[ItemOut]
    total: int = Field(description="items matching the label filter")
    offset: int
    limit: int
    labels: list[LabelCount]


class Health(BaseModel):
    """Liveness."""

    status: str


class Ready(BaseModel):
    """What is being served."""

    status: str
    model_version: str
    index_version: IndexVersion
    item_count: int


class ReloadRequest(BaseModel):
    """Paths to load; either left out keeps the one in service."""

    model_path: Path | None = None
    index_dir: Path | None = None


class ReloadResponse(Ready):
    """The searcher now in service."""

    model_path: str
    index_dir: str
