"""Writing a generation into Milvus (on Milvus Lite): only the difference, index types, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")

from lodisc.index_format.milvus_publish import (  # noqa: E402
    collection_prefix,
    index_type_for,
    publish_collection,
    publish_vectors,
)
from lodisc.index_format.milvus_store import MilvusStore, VectorStoreError, connect  # noqa: E402
from tests.lodisc.index_format.milvus_helpers import publish_items, random_vectors  # noqa: E402


def test_republish_upserts_changed_and_deletes_removed(tmp_path: Path) -> None:
    store = str(tmp_path / "vectors.db")
    vectors, ids = random_vectors(50), np.arange(50, dtype=np.int64)
    keys = [f"sha{i}" for i in ids]
    publish_items(store, ids, keys, vectors)
    keep = np.arange(5, 52)  # 0-4 removed, 50-51 added
    new_vectors = np.concatenate([vectors, random_vectors(2, seed=4)])[keep]
    new_keys = [f"sha{i}" for i in keep]
    new_keys[:3] = ["changed"] * 3  # ids 5, 6, 7 changed content
    new_vectors[:3] = random_vectors(3, seed=5)
    assert publish_items(store, keep, new_keys, new_vectors) == {"upserted": 5, "deleted": 5}
    milvus = MilvusStore.open(store, "items_a")
    assert milvus.count == len(keep)
    unit = new_vectors / np.linalg.norm(new_vectors, axis=1, keepdims=True)
    assert np.allclose(milvus.reconstruct_batch(keep), unit, atol=1e-6)
    assert np.allclose(milvus.index.reconstruct_batch(keep[:2]), unit[:2], atol=1e-6)
    with pytest.raises(RuntimeError):
        milvus.reconstruct(0)


def test_new_dim_recreates_the_collection(tmp_path: Path) -> None:
    store = str(tmp_path / "vectors.db")
    ids = np.arange(4, dtype=np.int64)
    publish_items(store, ids, ["k"] * 4, random_vectors(4))
    client = connect(store)
    try:
        counts = publish_collection(client, "items_a", ids, ["k"] * 4, np.eye(4, 8), "FLAT")
    finally:
        client.close()
    assert counts["upserted"] == 4 and MilvusStore.open(store, "items_a").dim == 8


def test_index_type_follows_the_kind_and_a_new_type_recreates_the_collection(
    tmp_path: Path,
) -> None:
    assert index_type_for("auto", 10) == "FLAT" and index_type_for("hnsw", 10) == "HNSW"
    with pytest.raises(VectorStoreError, match="ivfpq"):
        index_type_for("ivfpq", 10)
    store = str(tmp_path / "vectors.db")
    ids = np.arange(30, dtype=np.int64)
    keys, vectors = ["k"] * 30, random_vectors(30)
    publish_items(store, ids, keys, vectors, "FLAT")
    assert publish_items(store, ids, keys, vectors, "FLAT")["upserted"] == 0  # nothing changed
    assert publish_items(store, ids, keys, vectors, "HNSW")["upserted"] == 30  # rebuilt
    client = connect(store)
    try:
        assert client.describe_index("items_a", "vector")["index_type"] == "HNSW"
    finally:
        client.close()
    _, found = MilvusStore.open(store, "items_a").search(vectors[:3], 1)
    assert found[:, 0].tolist() == [0, 1, 2]


def test_generations_alternate_between_the_two_collections(tmp_path: Path) -> None:
    store, index_dir = str(tmp_path / "vectors.db"), tmp_path / "index"
    ids, vectors = np.arange(8, dtype=np.int64), random_vectors(8)
    first = publish_vectors(store, index_dir, None, ids, ["k"] * 8, vectors, "auto")
    prefix = collection_prefix(index_dir)
    assert first["collection"] == f"{prefix}_a" and first["alias"] == prefix
    live = {"vector_store": first}
    second = publish_vectors(store, index_dir, live, ids, ["k"] * 8, vectors, "auto")
    assert second["collection"] == f"{prefix}_b"  # the collection in service is not written
    assert (second["index_type"], second["upserted"]) == ("milvus:FLAT", 8)
