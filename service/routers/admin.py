"""Admin operations, behind ``X-API-Key``: reload the model and index without a restart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException

from lodisc.index_format.vectors import IndexFileError
from lodisc.inference.onnx_encoder import ModelError
from service.compatibility import IndexMismatchError
from service.deps import AdminDep, BatcherDep, SettingsDep, SlotDep
from service.schemas import ReloadRequest, ReloadResponse, error_responses
from service.searcher_slot import reload_searcher

NAME_CHARS = 200  # of a refused path, echoed in the error message

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


@router.post(
    "/reload",
    responses=error_responses(
        400,
        401,
        403,
        409,
        422,
        s400="the body is not JSON",
        s409="the index does not match the model",
        s422="a file is missing or unreadable, or the body is invalid",
    ),
)
def reload(
    slot: SlotDep,
    batcher: BatcherDep,
    settings: SettingsDep,
    paths: Annotated[ReloadRequest | None, Body()] = None,
) -> ReloadResponse:
    """Load a model and index aside, check they match, then swap them in atomically.

    Requests already running finish on the previous searcher; on any error it stays in service.
    """
    paths = paths or ReloadRequest()
    try:
        searcher = reload_searcher(slot, batcher, settings, paths.model_path, paths.index_dir)
    except IndexMismatchError as err:
        raise HTTPException(409, str(err)) from err
    except (ModelError, IndexFileError) as err:
        raise HTTPException(422, str(err)) from err
    except OSError as err:  # a path the OS refuses to look up (too long, a loop of links...)
        name = str(err.filename or "a path")[:NAME_CHARS]
        raise HTTPException(422, f"cannot read {name}: {err.strerror}") from err
    return ReloadResponse(status="reloaded", **searcher.describe())
