"""Searching the Milvus vector store (on Milvus Lite) against FAISS flat: same top-k, errors."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")

from lodisc.index_format.milvus_store import (  # noqa: E402
    MilvusStore,
    VectorStoreError,
    client_uri,
    connect,
)
from lodisc.index_format.vectors import FaissIndex  # noqa: E402
from tests.lodisc.index_format.milvus_helpers import (  # noqa: E402
    DIM,
    publish_items,
    random_vectors,
)


def test_top10_equals_faiss_flat(tmp_path: Path) -> None:
    vectors = random_vectors(300)
    ids = np.arange(300, dtype=np.int64) * 7 + 3  # ids are not row numbers
    store = str(tmp_path / "vectors.db")
    assert publish_items(store, ids, [str(i) for i in ids], vectors) == {
        "upserted": 300,
        "deleted": 0,
    }
    milvus = MilvusStore.open(store, "items_a")
    exact = FaissIndex.build(vectors, ids, "flat")
    queries = random_vectors(25, seed=1)
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
    publish_items(store, ids, ["a", "b", "c"], random_vectors(3))
    _, found = MilvusStore.open(store, "items_a").search(random_vectors(2, seed=3), 5)
    assert found.shape == (2, 5) and (found[:, 3:] == -1).all()
    assert sorted(found[0, :3].tolist()) == [5, 9, 11]


def test_bad_values_and_unreachable_server_are_named() -> None:
    with pytest.raises(VectorStoreError, match="milvus://HOST:PORT"):
        client_uri("postgres://db")
    assert client_uri("milvus://search:19530") == "http://search:19530"
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
    vectors = random_vectors(20)
    publish_items(store, ids, ["a"] * 20, vectors)
    milvus = MilvusStore.open(store, "items_a")
    recording = RecordingClient(milvus.client)
    milvus.client = recording
    assert milvus.search(vectors[:1], 1)[1][0, 0] == 0
    assert np.allclose(milvus.reconstruct(3), vectors[3] / np.linalg.norm(vectors[3]), atol=1e-6)
    assert [read["consistency_level"] for read in recording.reads] == ["Eventually"] * 2
    changed = vectors.copy()
    changed[5] = -vectors[0]  # item 5 becomes the best match of -vectors[0]
    publish_items(store, ids, ["a"] * 5 + ["b"] + ["a"] * 14, changed)
    assert milvus.search(-vectors[:1], 1)[1][0, 0] == 5  # the same open store sees it at once
