"""Vectors in Milvus (``pymilvus.MilvusClient``) instead of an in-process FAISS file: reading.

``LODISC_VECTOR_STORE`` / ``build_index.py --vector-store`` take ``faiss`` (the default: the
vectors live in ``<generation>/index.faiss``), ``milvus://HOST:PORT`` (a Milvus server or
cluster) or a path ending in ``.db`` (Milvus Lite, embedded in the process: one process at a
time, for tests and single-machine trials). The catalog and pivotal tokens stay in the
generation folder either way; the manifest's ``vector_store`` names the collection, which
:class:`MilvusStore` searches. Writing a generation is ``milvus_publish.py``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lodisc.index_format.vectors import HNSW_EF_SEARCH, IndexFileError, normalise

FAISS = "faiss"
SCHEME = "milvus://"
LITE_SUFFIX = ".db"
CONNECT_TIMEOUT_S = 10.0  # an unreachable server fails within this, never hangs
# Reads of a collection in service. A published collection is flushed and loaded before the
# manifest names it and is never written while in service (the next build writes its twin), so
# reads need not wait for the server's time tick: with "Strong" every search on a Milvus server
# waited for it, 200 ms per query (bench/vector_store.py --milvus-uri), 2 ms with "Eventually".
READ_CONSISTENCY = "Eventually"


class VectorStoreError(IndexFileError):
    """A vector store that cannot be reached or used, naming its URI and what to set."""


def is_faiss(store: str) -> bool:
    """Whether a ``vector_store`` value means the in-process FAISS index."""
    return store.strip().lower() in ("", FAISS)


def client_uri(store: str) -> str:
    """The pymilvus URI of a ``vector_store`` value (``http://HOST:PORT`` or a Lite file path).

    Raises:
        VectorStoreError: a value that is neither ``faiss``, ``milvus://HOST:PORT`` nor ``*.db``.
    """
    value = store.strip()
    if value.startswith(SCHEME) and ":" in value[len(SCHEME) :]:
        return "http://" + value[len(SCHEME) :].rstrip("/")
    if value.endswith(LITE_SUFFIX):
        return str(Path(value).expanduser().resolve())
    raise VectorStoreError(
        f"vector store {store!r}: expected 'faiss', 'milvus://HOST:PORT' or a Milvus Lite path "
        "ending in .db"
    )


def connect(store: str) -> Any:
    """A ``MilvusClient`` for ``store``, failing within ``CONNECT_TIMEOUT_S`` with its name.

    Raises:
        VectorStoreError: pymilvus is not installed, or the server or file cannot be opened.
    """
    uri = client_uri(store)
    try:
        from pymilvus import MilvusClient
    except ImportError as err:
        raise VectorStoreError(
            f"vector store {store}: pymilvus is not installed (pip install -e '.[scale]')"
        ) from err
    try:
        return MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT_S)
    except Exception as err:  # noqa: BLE001 - pymilvus raises several unrelated types
        raise VectorStoreError(f"cannot reach the vector store {store}: {err}") from err


class MilvusStore:
    """One collection of a Milvus store, with the search interface of ``FaissIndex``."""

    def __init__(self, client: Any, store: str, collection: str, dim: int, index_type: str):
        self.client = client
        self.store = store
        self.collection = collection
        self.factory = f"milvus:{index_type}"
        self._dim = dim
        self._count = self._query_count()

    @classmethod
    def open(cls, store: str, collection: str) -> MilvusStore:
        """Open (and load into memory) a published collection.

        Raises:
            VectorStoreError: the store is unreachable or lacks the collection.
        """
        client = connect(store)
        try:
            if not client.has_collection(collection):
                raise VectorStoreError(
                    f"collection {collection} not found in the vector store {store}: "
                    "rebuild the index with --vector-store"
                )
            client.load_collection(collection)
            fields = client.describe_collection(collection)["fields"]
            dim = next(int(f["params"]["dim"]) for f in fields if f["name"] == "vector")
            described = client.describe_index(collection, "vector")
        except VectorStoreError:
            raise
        except Exception as err:  # noqa: BLE001
            raise VectorStoreError(f"cannot open {collection} in {store}: {err}") from err
        return cls(client, store, collection, dim, str(described.get("index_type", "FLAT")))

    @property
    def count(self) -> int:
        """Number of vectors."""
        return self._count

    @property
    def dim(self) -> int:
        """Vector width."""
        return self._dim

    @property
    def index(self) -> MilvusStore:
        """Itself: callers of ``FaissIndex.index.reconstruct_batch`` reach the same method."""
        return self

    def _query_count(self) -> int:
        """Rows of the collection (strongly consistent)."""
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def search(
        self, queries: np.ndarray, k: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`FaissIndex.search` (``among`` becomes Milvus's ``id in [...]`` filter, applied
        inside the search).
        """
        unit = normalise(queries)  # (B, D)
        scores = np.full((len(unit), k), -np.inf, dtype=np.float32)
        ids = np.full((len(unit), k), -1, dtype=np.int64)
        candidates = self._count if among is None else min(self._count, len(among))
        if not len(unit) or not candidates:
            return scores, ids
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.factory.endswith("HNSW"):
            params["params"] = {"ef": max(HNSW_EF_SEARCH, k)}
        where: dict[str, Any] = {}
        if among is not None:  # a literal list: Milvus Lite parses no filter templates
            where = {"filter": f"id in [{','.join(str(int(i)) for i in among)}]"}
        results = self.client.search(
            self.collection,
            data=list(unit),
            limit=min(k, candidates),
            search_params=params,
            output_fields=["id"],
            consistency_level=READ_CONSISTENCY,
            **where,
        )
        for row, hits in enumerate(results):
            ids[row, : len(hits)] = [hit["id"] for hit in hits]
            scores[row, : len(hits)] = [hit["distance"] for hit in hits]
        return scores, ids

    def reconstruct_batch(self, item_ids: np.ndarray) -> np.ndarray:
        """Stored vectors (N, D) float32 of ``item_ids``, in their order.

        Raises:
            RuntimeError: an id is not stored (as FAISS raises).
        """
        wanted = [int(i) for i in np.asarray(item_ids).ravel()]
        rows = self.client.get(
            self.collection,
            ids=wanted,
            output_fields=["vector"],
            consistency_level=READ_CONSISTENCY,
        )
        found = {int(r["id"]): r["vector"] for r in rows}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise RuntimeError(f"ids {missing[:5]} not in collection {self.collection}")
        return np.asarray([found[i] for i in wanted], dtype=np.float32).reshape(-1, self._dim)

    def reconstruct(self, item_id: int) -> np.ndarray:
        """The stored vector (D,) of one id."""
        return self.reconstruct_batch(np.array([item_id]))[0]
