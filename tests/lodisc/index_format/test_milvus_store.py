"""The Milvus vector store (on Milvus Lite) against FAISS flat: same top-k, upsert/delete."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")

from lodisc.index_format.milvus_publish import index_type_for, publish_collection  # noqa: E402
from lodisc.index_format.milvus_store import (  # noqa: E402
    MilvusStore,
    VectorStoreError,
    client_uri,
    connect,
)
from lodisc.index_format.vectors import FaissIndex  # noqa: E402

DIM = 32


def _vectors(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)


def _publish(store: str, ids: np.ndarray, keys: list[str], vectors: np.ndarray) -> dict:
    client = connect(store)
    try:
        return publish_collection(client, "items_a", ids, keys, vectors, "FLAT")
    finally:
        client.close()


def test_top10_equals_faiss_flat(tmp_path: Path) -> None:
    vectors = _vectors(300)
    ids = np.arange(300, dtype=np.int64) * 7 + 3  # ids are not row numbers
    store = str(tmp_path / "vectors.db")
    assert _publish(store, ids, [str(i) for i in ids], vectors) == {"upserted": 300, "deleted": 0}
    milvus = MilvusStore.open(store, "items_a")
    exact = FaissIndex.build(vectors, ids, "flat")
    queries = _vectors(25, seed=1)
    scores, found = milvus.search(queries, 10)
    want_scores, want_ids = exact.search(queries, 10)
    assert (milvus.count, milvus.dim) == (300, DIM)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, want_ids, strict=True)])
    assert recall == 1.0 and np.array_equal(found, want_ids)
    assert np.allclose(scores, want_scores, atol=1e-5)
    assert found.dtype == np.int64 and scores.dtype == np.float32
    among = ids[::3]  # a filter applied inside the search: still k results when k pass it
    assert np.array_equal(milvus.search(queries, 10, among)[1], exact.search(queries, 10, among)[1])


def test_more_than_stored_pads_with_minus_one(tmp_path: Path) -> None:
    store = str(tmp_path / "vectors.db")
    ids = np.array([5, 9, 11], dtype=np.int64)
    _publish(store, ids, ["a", "b", "c"], _vectors(3))
    _, found = MilvusStore.open(store, "items_a").search(_vectors(2, seed=3), 5)
    assert found.shape == (2, 5) and (found[:, 3:] == -1).all()
    assert sorted(found[0, :3].tolist()) == [5, 9, 11]


def test_republish_upserts_changed_and_deletes_removed(tmp_path: Path) -> None:
    store = str(tmp_path / "vectors.db")
    vectors, ids = _vectors(50), np.arange(50, dtype=np.int64)
    keys = [f"sha{i}" for i in ids]
    _publish(store, ids, keys, vectors)
    keep = np.arange(5, 52)  # 0-4 removed, 50-51 added
    new_vectors = np.concatenate([vectors, _vectors(2, seed=4)])[keep]
    new_keys = [f"sha{i}" for i in keep]
    new_keys[:3] = ["changed"] * 3  # ids 5, 6, 7 changed content
    new_vectors[:3] = _vectors(3, seed=5)
    assert _publish(store, keep, new_keys, new_vectors) == {"upserted": 5, "deleted": 5}
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
    _publish(store, ids, ["k"] * 4, _vectors(4))
    client = connect(store)
    try:
        counts = publish_collection(client, "items_a", ids, ["k"] * 4, np.eye(4, 8), "FLAT")
    finally:
        client.close()
    assert counts["upserted"] == 4 and MilvusStore.open(store, "items_a").dim == 8


def test_bad_values_and_unreachable_server_are_named() -> None:
    with pytest.raises(VectorStoreError, match="milvus://HOST:PORT"):
        client_uri("postgres://db")
    assert client_uri("milvus://search:19530") == "http://search:19530"
    with pytest.raises(VectorStoreError, match="ivfpq"):
        index_type_for("ivfpq", 10)
    assert index_type_for("auto", 10) == "FLAT"
    start = time.perf_counter()
    with pytest.raises(VectorStoreError, match="127.0.0.1:9"):
        connect("milvus://127.0.0.1:9")
    assert time.perf_counter() - start < 30


def test_missing_collection_is_named(tmp_path: Path) -> None:
    store = str(tmp_path / "vectors.db")
    with pytest.raises(VectorStoreError, match="lodisc_nothing"):
        MilvusStore.open(store, "lodisc_nothing")


class RecordingClient:
    """Delegates to a ``MilvusClient`` and keeps the keyword arguments of each read."""

    def __init__(self, client: object) -> None:
        self.client = client
        self.reads: list[dict] = []

    def search(self, *args: object, **kwargs: object) -> object:
        self.reads.append(kwargs)
        return self.client.search(*args, **kwargs)  # type: ignore[attr-defined]

    def get(self, *args: object, **kwargs: object) -> object:
        self.reads.append(kwargs)
        return self.client.get(*args, **kwargs)  # type: ignore[attr-defined]


def test_reads_in_service_skip_the_time_tick_and_see_a_republish(tmp_path: Path) -> None:
    store = str(tmp_path / "vectors.db")
    ids = np.arange(20, dtype=np.int64)
    vectors = _vectors(20)
    _publish(store, ids, ["a"] * 20, vectors)
    milvus = MilvusStore.open(store, "items_a")
    recording = RecordingClient(milvus.client)
    milvus.client = recording
    assert milvus.search(vectors[:1], 1)[1][0, 0] == 0
    assert np.allclose(milvus.reconstruct(3), vectors[3] / np.linalg.norm(vectors[3]), atol=1e-6)
    assert [read["consistency_level"] for read in recording.reads] == ["Eventually"] * 2
    changed = vectors.copy()
    changed[5] = -vectors[0]  # item 5 becomes the best match of -vectors[0]
    _publish(store, ids, ["a"] * 5 + ["b"] + ["a"] * 14, changed)
    assert milvus.search(-vectors[:1], 1)[1][0, 0] == 5  # the same open store sees it at once
