"""Search by uploaded image(s): ``POST /search`` and ``POST /search/batch``.

The endpoints are ``async def`` and hand their whole blocking part (reading or fetching the image,
decoding, waiting for the encoder, searching, building the answer) to the threadpool in one call:
a plain ``def`` endpoint costs a second hand-off, since FastAPI then also validates its answer in
the threadpool. The encoder itself runs on the micro-batcher's thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from service.config import Settings
from service.deps import MetricsDep, ReaderDep, SearcherDep, SettingsDep
from service.ranking import Filter
from service.responses import to_batch_response, to_search_response
from service.schemas import BatchSearchResponse, SearchResponse, error_responses
from service.url_fetch import FetchLimits, UrlFetchError, fetch_image

router = APIRouter(tags=["search"], dependencies=[ReaderDep])

# The maximum is LODISC_MAX_K, known only at startup: the lifespan writes it into the schema.
KParam = Annotated[int, Query(ge=1, description="number of results, 1 to LODISC_MAX_K")]
ExplainParam = Annotated[
    bool, Query(description="add overlays and patch correspondences (costs encoder calls)")
]
InlineParam = Annotated[bool, Query(description="with explain: hit overlays inline as data URIs")]
BOX_PATTERN = r"^\s*\d+(\.\d+)?\s*(,\s*\d+(\.\d+)?\s*){3}$"
BoxParam = Annotated[
    str | None,
    Query(
        pattern=BOX_PATTERN,
        description="search with a region: x0,y0,x1,y1 in pixels of the uploaded image",
        examples=["10,20,200,180"],
    ),
]


LabelParam = Annotated[
    str | None,
    Query(max_length=512, description="only items of this label (filtered inside the search)"),
]
OffsetParam = Annotated[
    int, Query(ge=0, le=10_000, description="skip this many results (pages of k)")
]
MinScoreParam = Annotated[
    float | None,
    Query(
        ge=-1.0,
        le=1.0,
        description="only hits scoring at least this (fewer than k where too few do)",
        examples=[0.8],
    ),
]


def parse_box(box: str | None) -> tuple[float, float, float, float] | None:
    """``"x0,y0,x1,y1"`` (already matched against :data:`BOX_PATTERN`) as four floats."""
    if box is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in box.split(","))
    return x0, y0, x1, y1


def check_k(k: int, max_k: int) -> None:
    """422 unless 1 <= k <= max_k."""
    if not 1 <= k <= max_k:
        raise HTTPException(422, f"k must be between 1 and {max_k}, got {k}")


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The bytes of an uploaded file, refusing (413) more than ``max_bytes``."""
    if upload.size is not None and upload.size > max_bytes:
        raise HTTPException(413, f"image of {upload.size} bytes is over {max_bytes} bytes")
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HTTPException(413, f"image is over the limit of {max_bytes} bytes")
    return data


UPLOAD_ERRORS = error_responses(400, 413, 422, 429, 503)


def read_query_image(image: UploadFile | None, image_url: str | None, settings: Settings) -> bytes:
    """The query's bytes: the upload, or (when enabled) the image at ``image_url``; exactly one."""
    if image is None and image_url is None:
        raise HTTPException(422, "the form field image (or image_url) is missing")
    if image is not None and image_url is not None:
        raise HTTPException(400, "send one of the form fields image and image_url, not both")
    if image is not None:
        return read_upload(image, settings.max_bytes)
    if not settings.allow_url_fetch:
        raise HTTPException(
            403, "search by image_url is off on this server (LODISC_ALLOW_URL_FETCH=1 enables it)"
        )
    limits = FetchLimits(settings.max_bytes, settings.url_fetch_timeout_s)
    try:
        return fetch_image(str(image_url), limits)
    except UrlFetchError as err:
        raise HTTPException(err.status, str(err)) from err


@router.post(
    "/search",
    response_model_exclude_none=True,
    responses=error_responses(
        400, 403, 408, 413, 422, 429, 503, s403="search by image_url is off on this server"
    ),
)
async def search(
    request: Request,
    searcher: SearcherDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    # Optional (image_url may stand in), yet typed as a file: the schema offers no "null" string.
    image: Annotated[UploadFile, File(description="JPEG, PNG, WebP, BMP, TIFF or GIF")] = None,  # type: ignore[assignment]
    image_url: Annotated[
        str | None,
        Form(max_length=2048, description="instead of image: an http(s) URL of the image"),
    ] = None,
    k: KParam = 10,
    explain: ExplainParam = False,
    inline: InlineParam = False,
    box: BoxParam = None,
    label: LabelParam = None,
    offset: OffsetParam = 0,
    min_score: MinScoreParam = None,
) -> SearchResponse:
    """The ``k`` gallery items most similar to the uploaded image (or its ``box`` region),
    optionally among one ``label``'s items and scoring at least ``min_score``, from rank
    ``offset`` on."""
    check_k(k, settings.max_k)
    where, region = Filter(label, offset, min_score), parse_box(box)

    def run() -> SearchResponse:
        data = read_query_image(image, image_url, settings)
        outcome = searcher.search_uploads([data], k, explain, inline, region, where)
        metrics.observe_stages(outcome.timings_ms)
        return to_search_response(request.scope.get("root_path", ""), outcome, searcher)

    return await run_in_threadpool(run)


@router.post("/search/batch", response_model_exclude_none=True, responses=UPLOAD_ERRORS)
async def search_batch(
    images: Annotated[
        list[UploadFile], File(min_length=1, description="several images, one field each")
    ],
    request: Request,
    searcher: SearcherDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: KParam = 10,
    explain: ExplainParam = False,
    inline: InlineParam = False,
) -> BatchSearchResponse:
    """Search several images at once; results are in upload order. An image that cannot be used
    gets an entry with its ``error`` (and the ``status`` it would get alone); the others their
    results."""
    check_k(k, settings.max_k)
    if len(images) > settings.max_images:
        raise HTTPException(413, f"{len(images)} images: at most {settings.max_images} per batch")

    def run() -> BatchSearchResponse:
        uploads = [read_upload(image, settings.max_bytes) for image in images]
        outcome = searcher.search_uploads(uploads, k, explain, inline)
        metrics.observe_stages(outcome.timings_ms)
        return to_batch_response(request.scope.get("root_path", ""), outcome, searcher)

    return await run_in_threadpool(run)
