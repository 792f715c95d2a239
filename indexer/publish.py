"""Publish a generation: FAISS index + catalog in a new folder, then the manifest, atomically."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexer.gallery import is_disk_full
from lodisc.atomic import atomic_write_text
from lodisc.catalog import CATALOG_FILE, INDEX_FILE, MANIFEST
from lodisc.index import FaissIndex

logger = logging.getLogger(__name__)

GENERATION_PREFIX = "gen-"


def publish(
    index_dir: Path, db_path: Path, index: FaissIndex, manifest: dict[str, Any], model: str
) -> dict[str, Any]:
    """Write ``gen-<time>/{index.faiss, catalog.sqlite}``, then switch ``manifest.json`` to it.

    A reader sees either the previous generation or the new one, never a mix; the previous
    generation is kept for readers still using it, older ones are removed.

    Raises:
        OSError: a write failed (e.g. ``ENOSPC``, no space left), naming ``index_dir``; the
            published generation is unchanged and nothing of the new one is left behind.
    """
    stamp = datetime.now(UTC)
    name = f"{GENERATION_PREFIX}{stamp.strftime('%Y%m%dT%H%M%S%fZ')}"
    staging = index_dir / f".{name}.tmp"
    manifest = {**manifest, "generation": name, "built_at": stamp.isoformat(timespec="seconds")}
    previous = _current_generation(index_dir)
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        index.save(staging / INDEX_FILE)
        _write_catalog(db_path, staging / CATALOG_FILE, model)
        staging.rename(index_dir / name)
        atomic_write_text(index_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n")
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
        staging = path.name.startswith(f".{GENERATION_PREFIX}") and path.name.endswith(".tmp")
        manifest_tmp = path.name.startswith(f".{MANIFEST}.") and path.name.endswith(".tmp")
        if staging and path.is_dir():
            logger.info("removing %s left by an interrupted run", path)
            shutil.rmtree(path, ignore_errors=True)
        elif manifest_tmp and path.is_file():
            logger.info("removing %s left by an interrupted run", path)
            path.unlink(missing_ok=True)


def _discard(index_dir: Path, staging: Path, name: str) -> None:
    """Remove a generation that failed to publish (unless the manifest already names it)."""
    shutil.rmtree(staging, ignore_errors=True)
    if _current_generation(index_dir) != name:
        shutil.rmtree(index_dir / name, ignore_errors=True)


def _errno_of(err: OSError | sqlite3.Error) -> int:
    """The errno of a failed write (EIO when SQLite's error is not a full disk)."""
    if isinstance(err, OSError) and err.errno:
        return err.errno
    return errno.ENOSPC if isinstance(err, sqlite3.Error) and is_disk_full(err) else errno.EIO


def _write_catalog(db_path: Path, target: Path, model: str) -> None:
    """Copy the metadata of the items embedded by ``model`` (those in the index) to a new file."""
    with closing(sqlite3.connect(target)) as out:
        out.execute("ATTACH DATABASE ? AS src", (str(db_path),))
        out.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, path TEXT NOT NULL, label TEXT NOT NULL,"
            " sha256 TEXT NOT NULL, width INTEGER, height INTEGER, added_at TEXT)"
        )
        out.execute(
            "INSERT INTO items SELECT i.id, i.path, i.label, i.sha256, i.width, i.height, i.added_at"
            " FROM src.items i WHERE EXISTS (SELECT 1 FROM src.embeddings e"
            " WHERE e.sha256 = i.sha256 AND e.model = ?)",
            (model,),
        )
        out.execute("CREATE INDEX items_label ON items(label)")
        out.commit()
        out.execute("DETACH DATABASE src")


def _current_generation(index_dir: Path) -> str | None:
    try:
        return json.loads((index_dir / MANIFEST).read_text())["generation"]
    except (OSError, ValueError, KeyError):
        return None


def _remove_old(index_dir: Path, keep: set[str | None]) -> None:
    """Remove generations not in ``keep`` and anything an interrupted publish left."""
    remove_stale(index_dir)
    for path in index_dir.iterdir():
        if path.is_dir() and path.name.startswith(GENERATION_PREFIX) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
