"""``manifest.json``: what a published generation holds, written by the indexer, read by the service.

Fields: ``format_version``, ``model_sha256``, ``checkpoint_sha256``, ``dim``, ``preprocessing``,
``metric``, ``index_type``, ``item_count``, ``gallery_root``, ``content_fingerprint``,
``generation``, ``built_at`` and ``files`` (the sha256 of each generation file, checked at load);
``vector_store`` where the vectors went to Milvus instead of ``index.faiss`` (``uri``,
``collection``, ``alias``, ``index_type``, rows ``upserted``/``deleted``: milvus_store.py).
Version 1 folders (before ``format_version`` and ``files``) are still read; a newer version than
this code knows is refused with a message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lodisc.atomic import atomic_write_text
from lodisc.index_format.layout import MANIFEST
from lodisc.index_format.vectors import IndexFileError

FORMAT_VERSION = 2
REQUIRED_FIELDS = frozenset({"model_sha256", "dim", "preprocessing", "generation", "gallery_root"})
METRIC = "cosine (inner product of L2-normalised vectors)"


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    """The manifest of an index folder, validated, naming the file on failure.

    Raises:
        IndexFileError: missing, unreadable, incomplete, or of a newer format version.
    """
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexFileError(
            f"no index at {index_dir} ({MANIFEST} not found): run indexer/build_index.py"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IndexFileError(f"cannot read {path}: {err}") from err
    if not isinstance(manifest, dict):
        raise IndexFileError(f"cannot read {path}: not a JSON object")
    version = manifest.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IndexFileError(
            f"{path} has format_version {version!r}; this code reads versions 1 to "
            f"{FORMAT_VERSION}: upgrade lodisc-retrieval or rebuild the index"
        )
    missing = REQUIRED_FIELDS - set(manifest)
    if missing:
        raise IndexFileError(f"{path} lacks {sorted(missing)}")
    return manifest


def read_current_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest if it names a generation folder that exists, else None (never raises)."""
    try:
        manifest = read_manifest(index_dir)
    except IndexFileError:
        return None
    return manifest if (index_dir / str(manifest["generation"])).is_dir() else None


def current_generation(index_dir: Path) -> str | None:
    """The generation the manifest names, or None where there is no readable manifest."""
    try:
        return str(read_manifest(index_dir)["generation"])
    except IndexFileError:
        return None


def write_manifest(index_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Replace the manifest atomically, stamping the current ``format_version``.

    Returns:
        The manifest as written.
    """
    manifest = {**manifest, "format_version": FORMAT_VERSION}
    atomic_write_text(index_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest
