"""Publish a generation: FAISS index + catalog in a new folder, then the manifest, atomically."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lodisc.atomic import atomic_write_text
from lodisc.catalog import CATALOG_FILE, INDEX_FILE, MANIFEST
from lodisc.index import FaissIndex

GENERATION_PREFIX = "gen-"


def publish(
    index_dir: Path, db_path: Path, index: FaissIndex, manifest: dict[str, Any], model: str
) -> dict[str, Any]:
    """Write ``gen-<time>/{index.faiss, catalog.sqlite}``, then switch ``manifest.json`` to it.

    A reader sees either the previous generation or the new one, never a mix; the previous
    generation is kept for readers still using it, older ones are removed.
    """
    stamp = datetime.now(UTC)
    name = f"{GENERATION_PREFIX}{stamp.strftime('%Y%m%dT%H%M%S%fZ')}"
    staging = index_dir / f".{name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    index.save(staging / INDEX_FILE)
    _write_catalog(db_path, staging / CATALOG_FILE, model)
    staging.rename(index_dir / name)
    manifest = {**manifest, "generation": name, "built_at": stamp.isoformat(timespec="seconds")}
    previous = _current_generation(index_dir)
    atomic_write_text(index_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    _remove_old(index_dir, keep={name, previous})
    return manifest


def _write_catalog(db_path: Path, target: Path, model: str) -> None:
    """Copy the metadata of the items embedded by ``model`` (those in the index) to a new file."""
    with sqlite3.connect(target) as out:
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
    for path in index_dir.iterdir():
        stale_tmp = path.name.startswith(f".{GENERATION_PREFIX}") and path.name.endswith(".tmp")
        old = path.name.startswith(GENERATION_PREFIX) and path.name not in keep
        if path.is_dir() and (stale_tmp or old):
            shutil.rmtree(path, ignore_errors=True)
