"""Catalog: lookups, pages, labels, and reads after its generation folder was deleted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lodisc.index_format.catalog import Catalog
from lodisc.index_format.vectors import IndexFileError


def write_catalog(path: Path, labels: list[str]) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, path TEXT NOT NULL, label TEXT NOT NULL,"
            " sha256 TEXT NOT NULL, width INTEGER, height INTEGER, added_at TEXT)"
        )
        db.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, 8, 8, '2026-01-01')",
            [(i + 1, f"{label}/{i}.png", label, f"{i:064x}") for i, label in enumerate(labels)],
        )
    sqlite3.connect(path).close()


def test_lookups_pages_and_labels(tmp_path: Path) -> None:
    write_catalog(tmp_path / "catalog.sqlite", ["a", "b", "a", "c", "a"])
    catalog = Catalog(tmp_path / "catalog.sqlite")
    assert catalog.count == 5
    assert sorted(catalog.get([1, 4, 99])) == [1, 4]
    assert catalog.get([4])[4].label == "c"
    items, total = catalog.page(1, 2, label="a")
    assert total == 3 and [item.id for item in items] == [3, 5]
    assert catalog.labels() == [("a", 3), ("b", 1), ("c", 1)]


def test_reads_keep_working_after_the_file_is_deleted(tmp_path: Path) -> None:
    """A publish removes generations two behind; requests still on them must not fail."""
    path = tmp_path / "gen-1" / "catalog.sqlite"
    path.parent.mkdir()
    write_catalog(path, ["a", "b"])
    catalog = Catalog(path)
    path.unlink()
    path.parent.rmdir()
    assert catalog.get([2])[2].label == "b"
    assert catalog.page(0, 10)[1] == 2


def test_missing_or_corrupt_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(IndexFileError, match="catalog not found"):
        Catalog(tmp_path / "none.sqlite")
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(IndexFileError, match="bad.sqlite"):
        Catalog(bad)
