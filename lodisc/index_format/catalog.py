"""The catalog: read-only SQLite metadata of a generation's items (schema written and read here)."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from lodisc.index_format.vectors import IndexFileError

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

    def ids(self, label: str | None = None) -> list[int]:
        """Every item id (of one label, when given), ascending."""
        where, params = ("WHERE label = ?", [label]) if label is not None else ("", [])
        rows = self._query(f"SELECT id FROM items {where} ORDER BY id", params)
        return [int(row[0]) for row in rows]

    def labels(self) -> list[tuple[str, int]]:
        """Labels with their item counts."""
        rows = self._query("SELECT label, COUNT(*) FROM items GROUP BY label ORDER BY label", [])
        return [(str(label), int(n)) for label, n in rows]


def write_catalog(working_db: Path, target: Path, model: str) -> None:
    """Copy from the indexer's working database the items embedded by ``model`` to a new catalog.

    Args:
        working_db: the indexer's ``gallery.sqlite`` (tables ``items`` and ``embeddings``).
        target: the new generation's ``catalog.sqlite``.
        model: the model sha256 whose embeddings are in the generation's index.
    """
    with closing(sqlite3.connect(target)) as out:
        out.execute("ATTACH DATABASE ? AS src", (str(working_db),))
        out.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, path TEXT NOT NULL, label TEXT NOT NULL,"
            " sha256 TEXT NOT NULL, width INTEGER, height INTEGER, added_at TEXT)"
        )
        out.execute(
            "INSERT INTO items SELECT i.id, i.path, i.label, i.sha256, i.width, i.height, i.added_at"
            " FROM src.items i WHERE EXISTS (SELECT 1 FROM src.embeddings e"
            " WHERE e.sha256 = i.sha256 AND e.model = ? AND e.tokens IS NOT NULL)",
            (model,),
        )
        out.execute("CREATE INDEX items_label ON items(label)")
        out.commit()
        out.execute("DETACH DATABASE src")
