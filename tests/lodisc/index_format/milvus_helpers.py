"""Vectors and a one-call publish for the Milvus store tests (on Milvus Lite)."""

from __future__ import annotations

import numpy as np

from lodisc.index_format.milvus_publish import publish_collection
from lodisc.index_format.milvus_store import connect

DIM = 32


def random_vectors(count: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """(count, dim) float32 Gaussian vectors."""
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def publish_items(
    store: str,
    ids: np.ndarray,
    keys: list[str],
    vectors: np.ndarray,
    index_type: str = "FLAT",
    collection: str = "items_a",
) -> dict[str, int]:
    """``publish_collection`` into ``collection`` of ``store`` through a client of its own."""
    client = connect(store)
    try:
        return publish_collection(client, collection, ids, keys, vectors, index_type)
    finally:
        client.close()
