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
from lodisc.index_format.pivotal_tokens import PivotalTokens, load_pivotal_tokens
from lodisc.index_format.vectors import FaissIndex, IndexFileError


@dataclass
class PublishedIndex:
    """A loaded generation: manifest, FAISS index and catalog."""

    root: Path
    manifest: dict[str, Any]
    index: FaissIndex
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


def load_published(index_dir: str | Path) -> PublishedIndex:
    """Load the current generation of an index folder."""
    root = Path(index_dir)
    manifest = read_manifest(root)
    generation = root / manifest["generation"]
    verify_checksums(generation, dict(manifest.get("files", {})))
    index = FaissIndex.load(generation / INDEX_FILE, manifest.get("index_type", ""))
    catalog = Catalog(generation / CATALOG_FILE)
    if index.count != catalog.count or index.dim != int(manifest["dim"]):
        raise IndexFileError(
            f"{generation}: index has {index.count} vectors of dim {index.dim}, catalog "
            f"{catalog.count} items, manifest dim {manifest['dim']}: rebuild the index"
        )
    tokens = load_pivotal_tokens(generation / TOKENS_FILE, np.asarray(catalog.ids()))
    return PublishedIndex(root, manifest, index, catalog, tokens)
