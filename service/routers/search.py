"""Search by uploaded image(s): ``POST /search`` and ``POST /search/batch``.

Plain ``def`` endpoints: decoding and waiting for the encoder run in the threadpool, never on the
event loop; the encoder itself runs on the micro-batcher's thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile

from service.deps import MetricsDep, SearcherDep, SettingsDep
from service.responses import to_batch_response, to_search_response
from service.schemas import BatchSearchResponse, SearchResponse, error_responses
from service.searcher import Filter

router = APIRouter(tags=["search"])

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


@router.post("/search", response_model_exclude_none=True, responses=UPLOAD_ERRORS)
def search(
    image: Annotated[UploadFile, File(description="JPEG, PNG, WebP, BMP, TIFF or GIF")],
    request: Request,
    searcher: SearcherDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: KParam = 10,
    explain: ExplainParam = False,
    inline: InlineParam = False,
    box: BoxParam = None,
    label: LabelParam = None,
    offset: OffsetParam = 0,
) -> SearchResponse:
    """The ``k`` gallery items most similar to the uploaded image (or its ``box`` region),
    optionally among one ``label``'s items, from rank ``offset`` on."""
    check_k(k, settings.max_k)
    data = read_upload(image, settings.max_bytes)
    where = Filter(label, offset)
    outcome = searcher.search_uploads([data], k, explain, inline, parse_box(box), where)
    metrics.observe_stages(outcome.timings_ms)
    return to_search_response(request.scope.get("root_path", ""), outcome, searcher)


@router.post("/search/batch", response_model_exclude_none=True, responses=UPLOAD_ERRORS)
def search_batch(
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
    uploads = [read_upload(image, settings.max_bytes) for image in images]
    outcome = searcher.search_uploads(uploads, k, explain, inline)
    metrics.observe_stages(outcome.timings_ms)
    return to_batch_response(request.scope.get("root_path", ""), outcome, searcher)
