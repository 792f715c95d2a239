"""The published index: ``INDEX_DIR/manifest.json`` naming a generation folder with the FAISS index
and a read-only SQLite catalog of its items. Written by ``indexer/``, read by ``service/``.

    INDEX_DIR/manifest.json          model_sha256, dim, preprocessing, metric, index_type,
                                     item_count, built_at, generation, gallery_root
    INDEX_DIR/gallery.sqlite         the indexer's working state (items + embedding cache)
    INDEX_DIR/<generation>/index.faiss
    INDEX_DIR/<generation>/catalog.sqlite   items(id, path, label, sha256, width, height, added_at)

The manifest is replaced atomically last, so a reader always sees a complete generation.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lodisc.index import FaissIndex, IndexFileError

MANIFEST = "manifest.json"
INDEX_FILE = "index.faiss"
CATALOG_FILE = "catalog.sqlite"
ITEM_COLUMNS = ("id", "path", "label", "sha256", "width", "height", "added_at")


@dataclass(frozen=True)
class Item:
    """One gallery image."""

    id: int
    path: str  # relative to the gallery root
    label: str
    sha256: str
    width: int
    height: int
    added_at: str


class Catalog:
    """Read-only item metadata of one generation.

    One connection is opened up front and shared under a lock: the file stays readable through it
    even after a later publish deletes this generation's folder (requests still in flight on an old
    searcher keep working).
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise IndexFileError(f"catalog not found: {path}")
        self.path = path
        self._lock = threading.Lock()
        uri = f"file:{path}?mode=ro&immutable=1"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.count = int(self._query("SELECT COUNT(*) FROM items", [])[0][0])
        except sqlite3.DatabaseError as err:
            raise IndexFileError(f"cannot read catalog {path}: {err}") from err

    def _query(self, sql: str, params: list) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection (also done when the catalog is garbage-collected)."""
        self._db.close()

    def get(self, item_ids: list[int]) -> dict[int, Item]:
        """Items by id (unknown ids are absent from the result)."""
        if not item_ids:
            return {}
        marks = ",".join("?" * len(item_ids))
        rows = self._query(
            f"SELECT {','.join(ITEM_COLUMNS)} FROM items WHERE id IN ({marks})", list(item_ids)
        )
        return {row[0]: Item(*row) for row in rows}

    def page(self, offset: int, limit: int, label: str | None = None) -> tuple[list[Item], int]:
        """A page of items in id order, optionally of one label, and the total matching."""
        where, params = ("WHERE label = ?", [label]) if label else ("", [])
        total = int(self._query(f"SELECT COUNT(*) FROM items {where}", params)[0][0])
        rows = self._query(
            f"SELECT {','.join(ITEM_COLUMNS)} FROM items {where} ORDER BY id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [Item(*row) for row in rows], total

    def labels(self) -> list[tuple[str, int]]:
        """Labels with their item counts."""
        rows = self._query("SELECT label, COUNT(*) FROM items GROUP BY label ORDER BY label", [])
        return [(str(label), int(n)) for label, n in rows]


@dataclass
class PublishedIndex:
    """A loaded generation: manifest, FAISS index and catalog."""

    root: Path
    manifest: dict[str, Any]
    index: FaissIndex
    catalog: Catalog

    @property
    def gallery_root(self) -> Path:
        """Folder the item paths are relative to."""
        return Path(self.manifest["gallery_root"])


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    """The manifest of an index folder, naming the file on failure."""
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexFileError(
            f"no index at {index_dir} ({MANIFEST} not found): run indexer/build_index.py"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IndexFileError(f"cannot read {path}: {err}") from err
    missing = {"model_sha256", "dim", "preprocessing", "generation", "gallery_root"} - set(manifest)
    if missing:
        raise IndexFileError(f"{path} lacks {sorted(missing)}")
    return manifest


def load_published(index_dir: str | Path) -> PublishedIndex:
    """Load the current generation of an index folder."""
    root = Path(index_dir)
    manifest = read_manifest(root)
    generation = root / manifest["generation"]
    index = FaissIndex.load(generation / INDEX_FILE, manifest.get("index_type", ""))
    catalog = Catalog(generation / CATALOG_FILE)
    if index.count != catalog.count or index.dim != int(manifest["dim"]):
        raise IndexFileError(
            f"{generation}: index has {index.count} vectors of dim {index.dim}, catalog "
            f"{catalog.count} items, manifest dim {manifest['dim']}: rebuild the index"
        )
    return PublishedIndex(root, manifest, index, catalog)
