"""A loaded generation: manifest, FAISS vectors and catalog, checked against each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lodisc.hashing import file_sha256
from lodisc.index_format.catalog import Catalog
from lodisc.index_format.layout import (
    CATALOG_FILE,
    GENERATION_FILES,
    INDEX_FILE,
    MANIFEST,
    TOKENS_FILE,
)
from lodisc.index_format.manifest import read_manifest
from lodisc.index_format.milvus_store import MilvusStore, VectorStoreError, is_faiss
from lodisc.index_format.pivotal_tokens import PivotalTokens, load_pivotal_tokens
from lodisc.index_format.vectors import FaissIndex, IndexFileError


@dataclass
class PublishedIndex:
    """A loaded generation: manifest, FAISS index and catalog."""

    root: Path
    manifest: dict[str, Any]
    index: FaissIndex | MilvusStore
    catalog: Catalog
    tokens: PivotalTokens | None = None  # None for indexes built before tokens were stored

    @property
    def gallery_root(self) -> Path:
        """Folder the item paths are relative to."""
        return Path(self.manifest["gallery_root"])


def generation_checksums(generation: Path) -> dict[str, str]:
    """The sha256 of each file of a generation folder, for the manifest's ``files``."""
    return {
        name: file_sha256(generation / name)
        for name in GENERATION_FILES
        if (generation / name).is_file()
    }


def verify_checksums(generation: Path, expected: dict[str, str]) -> None:
    """Refuse a generation whose files differ from the manifest's sha256 (a flipped bit).

    Raises:
        IndexFileError: naming the file that differs.
    """
    for name, digest in expected.items():
        path = generation / name
        if path.is_file() and file_sha256(path) != digest:
            raise IndexFileError(
                f"{path} does not match the sha256 in {generation.parent / MANIFEST} "
                "(corrupted on disk?): rebuild the index"
            )


def load_published(index_dir: str | Path, vector_store: str = "faiss") -> PublishedIndex:
    """Load the current generation of an index folder.

    ``vector_store`` (``LODISC_VECTOR_STORE``) must fit the manifest: ``faiss`` for an index
    with its ``index.faiss``, the Milvus address to reach for one published into Milvus.
    """
    root = Path(index_dir)
    manifest = read_manifest(root)
    generation = root / manifest["generation"]
    verify_checksums(generation, dict(manifest.get("files", {})))
    index = load_vectors(root, manifest, vector_store)
    catalog = Catalog(generation / CATALOG_FILE)
    if index.count != catalog.count or index.dim != int(manifest["dim"]):
        raise IndexFileError(
            f"{generation}: index has {index.count} vectors of dim {index.dim}, catalog "
            f"{catalog.count} items, manifest dim {manifest['dim']}: rebuild the index"
        )
    tokens = load_pivotal_tokens(generation / TOKENS_FILE, np.asarray(catalog.ids()))
    return PublishedIndex(root, manifest, index, catalog, tokens)


def load_vectors(root: Path, manifest: dict[str, Any], store: str) -> FaissIndex | MilvusStore:
    """The generation's vectors: its FAISS file, or its collection in the store at ``store``.

    Raises:
        VectorStoreError: the setting does not fit the manifest, or the store is unreachable.
    """
    entry = manifest.get("vector_store")
    if entry is None:
        if not is_faiss(store):
            raise VectorStoreError(
                f"LODISC_VECTOR_STORE={store} but the index at {root} keeps its vectors in FAISS: "
                "unset it, or rebuild the index with --vector-store"
            )
        generation = root / manifest["generation"]
        return FaissIndex.load(generation / INDEX_FILE, manifest.get("index_type", ""))
    if is_faiss(store):
        raise VectorStoreError(
            f"the index at {root} keeps its vectors in the Milvus store {entry['uri']}: set "
            "LODISC_VECTOR_STORE to its address (milvus://HOST:PORT, or the Lite .db path)"
        )
    try:
        return MilvusStore.open(store, str(entry["collection"]))
    except VectorStoreError as err:
        raise VectorStoreError(f"LODISC_VECTOR_STORE={store}: {err}") from err
