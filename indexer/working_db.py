"""The indexer's working state in ``INDEX_DIR/gallery.sqlite``: gallery items and cached embeddings.

Item ids are stable: a path keeps its id while it exists (also when its content changes), and ids are
never reused (AUTOINCREMENT). Embeddings are cached by (content sha256, model sha256), so a rebuild,
an index-type change or a moved file re-embeds nothing; each embedding row also caches the item's
pivotal patch tokens (float16, for re-ranking). Every write is a committed transaction, so a
killed run loses at most the batch in flight and the rerun resumes.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from lodisc.hashing import file_sha256
from lodisc.index_format.pivotal_tokens import TOKEN_DTYPE
from lodisc.inference.image_decode import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT UNIQUE NOT NULL,
    label TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_sha ON items(sha256);
CREATE TABLE IF NOT EXISTS embeddings (
    sha256 TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    tokens BLOB,
    PRIMARY KEY (sha256, model)
);
"""
# Working databases written before pivotal tokens were stored gain the column (and re-embed).
MIGRATIONS = {"tokens": "ALTER TABLE embeddings ADD COLUMN tokens BLOB"}


class GalleryError(ValueError):
    """A gallery folder that cannot be indexed (missing, or no readable image in it)."""


class GalleryDBError(ValueError):
    """``gallery.sqlite`` cannot be used (corrupt, not a database), naming the file."""


def is_disk_full(err: sqlite3.Error) -> bool:
    """Whether SQLite failed for want of space.

    A full disk shows as SQLITE_FULL when a write fails, or as SQLITE_IOERR_SHMSIZE when the WAL
    index (``-shm``) cannot grow (measured on a full tmpfs: "disk I/O error").
    """
    return getattr(err, "sqlite_errorname", "") in ("SQLITE_FULL", "SQLITE_IOERR_SHMSIZE")


def database_error(path: Path, err: sqlite3.Error) -> OSError | GalleryDBError:
    """A clear error for a failed operation on the database ``path``.

    A full disk (``SQLITE_FULL``) becomes ``OSError(ENOSPC)`` naming the file; anything else a
    :class:`GalleryDBError`, which for a damaged file says what deleting it would cost.
    """
    name = getattr(err, "sqlite_errorname", "")
    if is_disk_full(err):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return GalleryDBError(
            f"cannot use {path}: {err}. Restore it from a backup, or delete it to index from "
            "scratch (new item ids, every image embedded again); the published index is unchanged"
        )
    return GalleryDBError(f"cannot use {path}: {err}")


@dataclass(frozen=True)
class ScannedFile:
    """A gallery file as found on disk."""

    path: str  # relative, POSIX separators
    label: str
    sha256: str
    width: int
    height: int
    size: int
    mtime_ns: int


@dataclass
class SyncReport:
    """What a scan changed in the items table."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    unreadable: int = 0


def list_gallery_files(root: Path) -> list[Path]:
    """Image files under ``root`` (any depth), sorted; hidden files and folders skipped."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [
            Path(dirpath) / name
            for name in filenames
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        ]
    return sorted(files)


class GalleryDB:
    """SQLite working state of one index folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(embeddings)")}
        for column, statement in MIGRATIONS.items():
            if column not in columns:
                self.db.execute(statement)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def known(self) -> dict[str, tuple[int, int, str, int, int]]:
        """path -> (size, mtime_ns, sha256, width, height) of the items table."""
        rows = self.db.execute("SELECT path, size, mtime_ns, sha256, width, height FROM items")
        return {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in rows}

    def scan(self, root: Path, workers: int = 8) -> SyncReport:
        """Bring the items table in line with the files under ``root``."""
        known = self.known()
        files = list_gallery_files(root)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            scanned = list(pool.map(lambda p: _scan_file(root, p, known), files))
        report = SyncReport(unreadable=sum(s is None for s in scanned))
        if report.unreadable:
            logger.warning("skipped %d unreadable gallery file(s)", report.unreadable)
        present = {s.path: s for s in scanned if s is not None}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.db:
            for path in sorted(set(known) - set(present)):
                self.db.execute("DELETE FROM items WHERE path = ?", (path,))
                report.removed += 1
            for item in present.values():
                before = known.get(item.path)
                if before is None:
                    report.added += 1
                elif before[2] != item.sha256:
                    report.changed += 1
                else:
                    report.unchanged += 1
                self.db.execute(
                    "INSERT INTO items(path, label, sha256, width, height, size, mtime_ns, added_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                    " label=excluded.label, sha256=excluded.sha256, width=excluded.width,"
                    " height=excluded.height, size=excluded.size, mtime_ns=excluded.mtime_ns",
                    (
                        item.path,
                        item.label,
                        item.sha256,
                        item.width,
                        item.height,
                        item.size,
                        item.mtime_ns,
                        now,
                    ),
                )
        return report

    def missing_embeddings(self, model: str) -> list[tuple[str, str]]:
        """(sha256, one relative path) of current contents without an embedding for ``model``."""
        rows = self.db.execute(
            "SELECT i.sha256, MIN(i.path) FROM items i LEFT JOIN embeddings e"
            " ON e.sha256 = i.sha256 AND e.model = ? WHERE e.sha256 IS NULL OR e.tokens IS NULL"
            " GROUP BY i.sha256 ORDER BY MIN(i.id)",
            (model,),
        )
        return [(r[0], r[1]) for r in rows]

    def store_embeddings(
        self, model: str, shas: list[str], vectors: np.ndarray, tokens: np.ndarray
    ) -> None:
        """Insert one batch of vectors (B, D) and pivotal tokens (B, T, D) in one transaction."""
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        compact = np.ascontiguousarray(tokens, dtype=TOKEN_DTYPE)
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings(sha256, model, vector, tokens)"
                " VALUES (?, ?, ?, ?)",
                [
                    (sha, model, row.tobytes(), toks.tobytes())
                    for sha, row, toks in zip(shas, data, compact, strict=True)
                ],
            )

    def drop_items(self, paths: list[str]) -> None:
        """Remove items that failed to decode (they are retried on the next run)."""
        with self.db:
            self.db.executemany("DELETE FROM items WHERE path = ?", [(p,) for p in paths])

    def embedded_items(self, model: str, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids (N,), vectors (N, D) and pivotal tokens (N, T, D) of every item embedded (with
        tokens) by ``model``, in id order."""
        rows = self.db.execute(
            "SELECT i.id, e.vector, e.tokens FROM items i JOIN embeddings e"
            " ON e.sha256 = i.sha256 AND e.model = ? WHERE e.tokens IS NOT NULL ORDER BY i.id",
            (model,),
        ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        tokens = np.frombuffer(b"".join(r[2] for r in rows), dtype=TOKEN_DTYPE)
        per_item = len(rows[0][2]) // (TOKEN_DTYPE().itemsize * dim) if rows and dim else 0
        return ids, vectors.reshape(len(rows), dim), tokens.reshape(len(rows), per_item, dim)

    def prune_embeddings(self, model: str) -> None:
        """Forget cached vectors of other models and of contents no longer in the gallery."""
        with self.db:
            self.db.execute(
                "DELETE FROM embeddings WHERE model != ? OR sha256 NOT IN (SELECT sha256 FROM items)",
                (model,),
            )


def _scan_file(
    root: Path, path: Path, known: dict[str, tuple[int, int, str, int, int]]
) -> ScannedFile | None:
    """Stat, hash (unless size and mtime are unchanged) and read the header of one file."""
    rel = path.relative_to(root).as_posix()
    label = path.parent.name if path.parent != root else ""
    try:
        stat = path.stat()
        before = known.get(rel)
        if before is not None and before[0] == stat.st_size and before[1] == stat.st_mtime_ns:
            return ScannedFile(
                rel, label, before[2], before[3], before[4], stat.st_size, stat.st_mtime_ns
            )
        with Image.open(path) as image:
            width, height = image.size
        return ScannedFile(
            rel, label, file_sha256(path), width, height, stat.st_size, stat.st_mtime_ns
        )
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        logger.warning("skipping %s: %s", rel, err)
        return None
