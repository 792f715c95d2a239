"""Publish a generation: FAISS index + catalog in a new folder, then the manifest, atomically."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.working_db import is_disk_full
from lodisc.index_format.catalog import write_catalog
from lodisc.index_format.layout import (
    CATALOG_FILE,
    INDEX_FILE,
    TOKENS_FILE,
    generation_name,
    is_generation,
    is_manifest_temporary,
    is_staging,
)
from lodisc.index_format.manifest import current_generation, write_manifest
from lodisc.index_format.pivotal_tokens import write_pivotal_tokens
from lodisc.index_format.published import generation_checksums
from lodisc.index_format.vectors import FaissIndex

logger = logging.getLogger(__name__)


def publish(
    index_dir: Path,
    db_path: Path,
    index: FaissIndex | None,
    manifest: dict[str, Any],
    model: str,
    tokens: np.ndarray,
) -> dict[str, Any]:
    """Write ``gen-<time>/{index.faiss, catalog.sqlite, pivotal_tokens.npy}``, then switch
    ``manifest.json`` to it. ``tokens`` (N, T, D) are the items' pivotal tokens in id order.

    A reader sees either the previous generation or the new one, never a mix; the previous
    generation is kept for readers still using it, older ones are removed.

    Raises:
        OSError: a write failed (e.g. ``ENOSPC``, no space left), naming ``index_dir``; the
            published generation is unchanged and nothing of the new one is left behind.
    """
    stamp = datetime.now(UTC)
    name = generation_name(stamp)
    staging = index_dir / f".{name}.tmp"
    manifest = {**manifest, "generation": name, "built_at": stamp.isoformat(timespec="seconds")}
    previous = current_generation(index_dir)
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if index is not None:  # None: the vectors went to a vector store (milvus_store.py)
            index.save(staging / INDEX_FILE)
        write_catalog(db_path, staging / CATALOG_FILE, model)
        write_pivotal_tokens(staging / TOKENS_FILE, tokens)
        manifest["files"] = generation_checksums(staging)
        staging.rename(index_dir / name)
        manifest = write_manifest(index_dir, manifest)
    except (OSError, sqlite3.Error) as err:
        _discard(index_dir, staging, name)
        code = _errno_of(err)
        detail = f"writing {err.filename}" if isinstance(err, OSError) and err.filename else err
        raise OSError(
            code,
            f"{os.strerror(code)}: cannot publish a new index in {index_dir} ({detail}); "
            "the published index is unchanged",
        ) from err
    except BaseException:
        _discard(index_dir, staging, name)
        raise
    _remove_old(index_dir, keep={name, previous})
    return manifest


def remove_stale(index_dir: Path) -> None:
    """Delete what an interrupted publish left: staging folders and manifest temporary files."""
    for path in index_dir.iterdir():
        if is_staging(path.name) and path.is_dir():
            logger.info("removing %s left by an interrupted run", path)
            shutil.rmtree(path, ignore_errors=True)
        elif is_manifest_temporary(path.name) and path.is_file():
            logger.info("removing %s left by an interrupted run", path)
            path.unlink(missing_ok=True)


def _discard(index_dir: Path, staging: Path, name: str) -> None:
    """Remove a generation that failed to publish (unless the manifest already names it)."""
    shutil.rmtree(staging, ignore_errors=True)
    if current_generation(index_dir) != name:
        shutil.rmtree(index_dir / name, ignore_errors=True)


def _errno_of(err: OSError | sqlite3.Error) -> int:
    """The errno of a failed write (EIO when SQLite's error is not a full disk)."""
    if isinstance(err, OSError) and err.errno:
        return err.errno
    return errno.ENOSPC if isinstance(err, sqlite3.Error) and is_disk_full(err) else errno.EIO


def _remove_old(index_dir: Path, keep: set[str | None]) -> None:
    """Remove generations not in ``keep`` and anything an interrupted publish left."""
    remove_stale(index_dir)
    for path in index_dir.iterdir():
        if path.is_dir() and is_generation(path.name) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
