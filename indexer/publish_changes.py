"""Publishing a new index generation when, and only when, what it would hold has changed.

The content fingerprint (items, contents, model, index kind, format) decides: a rerun over an
unchanged gallery publishes nothing; otherwise the vectors go into a FAISS index or a Milvus
collection and ``indexer/publish.py`` swaps the generation in atomically.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from indexer.publish import publish, remove_stale
from indexer.working_db import GalleryDB, GalleryError
from lodisc.index_format.layout import WORKING_DB
from lodisc.index_format.manifest import FORMAT_VERSION, METRIC, read_current_manifest
from lodisc.index_format.milvus_publish import follow_alias, publish_vectors
from lodisc.index_format.milvus_store import is_faiss
from lodisc.index_format.vectors import FaissIndex


def publish_if_changed(
    db: GalleryDB,
    backend: Any,
    model: str,
    gallery: Path,
    out: Path,
    index_kind: str,
    vector_store: str = "faiss",
) -> tuple[dict[str, Any], bool]:
    """Publish the embedded items unless the current generation already holds exactly them."""
    ids, vectors, tokens = db.embedded_items(model, embedding_dim(db, model))
    if len(ids) == 0:
        raise GalleryError(f"no readable images in {gallery}")
    manifest = {
        "model_sha256": model,
        "checkpoint_sha256": backend.checkpoint_sha256,
        "dim": int(vectors.shape[1]),
        "preprocessing": backend.preprocessing,
        "metric": METRIC,
        "item_count": int(len(ids)),
        "gallery_root": str(gallery),
        "content_fingerprint": content_fingerprint(
            ids, db, model, store_kind(index_kind, vector_store)
        ),
    }
    current = read_current_manifest(out)
    if current and current.get("content_fingerprint") == manifest["content_fingerprint"]:
        remove_stale(out)  # what a run killed while publishing left behind
        return current, False
    index: FaissIndex | None = None
    if is_faiss(vector_store):
        index = FaissIndex.build(vectors, ids, index_kind)
        manifest["index_type"] = index.factory
    else:
        shas = dict(db.db.execute("SELECT id, sha256 FROM items"))
        keys = [f"{shas[int(i)]}:{model}" for i in ids]
        entry = publish_vectors(vector_store, out, current, ids, keys, vectors, index_kind)
        manifest["vector_store"], manifest["index_type"] = entry, entry["index_type"]
    manifest["pivotal_tokens"] = {
        "per_item": int(tokens.shape[1]),
        "dtype": "float16",
        "bytes_per_item": int(tokens.shape[1] * tokens.shape[2] * 2),
    }
    written = publish(out, out / WORKING_DB, index, manifest, model, tokens)
    if index is None:
        follow_alias(written["vector_store"])
    return written, True


def store_kind(index_kind: str, vector_store: str) -> str:
    """The fingerprint's index kind: FAISS indexes keep theirs, a Milvus store adds its URI."""
    return index_kind if is_faiss(vector_store) else f"{index_kind}|{vector_store}"


def embedding_dim(db: GalleryDB, model: str) -> int:
    """Length of ``model``'s stored vectors (0 when none is stored)."""
    row = db.db.execute(
        "SELECT LENGTH(vector) FROM embeddings WHERE model = ? LIMIT 1", (model,)
    ).fetchone()
    return int(row[0]) // 4 if row else 0


def content_fingerprint(ids: np.ndarray, db: GalleryDB, model: str, kind: str) -> str:
    """Hash of what the published index holds: items, contents, model and index kind."""
    digest = hashlib.sha256(f"{model}|{kind}|format {FORMAT_VERSION}".encode())
    for row in db.db.execute("SELECT id, path, label, sha256 FROM items ORDER BY id"):
        digest.update("|".join(map(str, row)).encode())
    digest.update(ids.tobytes())
    return digest.hexdigest()
