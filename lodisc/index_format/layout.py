"""The published index folder, file by file (the one place that names them).

    INDEX_DIR/manifest.json                  what the current generation holds (see manifest.py)
    INDEX_DIR/gallery.sqlite                 the indexer's working state (items + embedding cache)
    INDEX_DIR/gen-<UTC time>/index.faiss     the vectors (vectors.py)
    INDEX_DIR/gen-<UTC time>/catalog.sqlite  items(id, path, label, sha256, width, height, added_at)
    INDEX_DIR/gen-<UTC time>/pivotal_tokens.npy  each item's pivotal patch tokens (pivotal_tokens.py)

The manifest is replaced atomically last, so a reader always sees a complete generation.
"""

from __future__ import annotations

from datetime import datetime

MANIFEST = "manifest.json"
WORKING_DB = "gallery.sqlite"
INDEX_FILE = "index.faiss"
CATALOG_FILE = "catalog.sqlite"
TOKENS_FILE = "pivotal_tokens.npy"
GENERATION_PREFIX = "gen-"
GENERATION_FILES = (INDEX_FILE, CATALOG_FILE, TOKENS_FILE)


def generation_name(stamp: datetime) -> str:
    """Folder name of a generation published at ``stamp`` (UTC): names sort by time."""
    return f"{GENERATION_PREFIX}{stamp.strftime('%Y%m%dT%H%M%S%fZ')}"


def is_generation(name: str) -> bool:
    """Whether a folder name is a published generation's."""
    return name.startswith(GENERATION_PREFIX)


def is_staging(name: str) -> bool:
    """Whether a folder name is a generation being written (``.gen-....tmp``)."""
    return name.startswith(f".{GENERATION_PREFIX}") and name.endswith(".tmp")


def is_manifest_temporary(name: str) -> bool:
    """Whether a file name is an interrupted atomic write of the manifest."""
    return name.startswith(f".{MANIFEST}.") and name.endswith(".tmp")
