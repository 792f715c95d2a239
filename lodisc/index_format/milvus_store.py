"""Vectors in Milvus (``pymilvus.MilvusClient``) instead of an in-process FAISS file.

``LODISC_VECTOR_STORE`` / ``build_index.py --vector-store`` take ``faiss`` (the default: the
vectors live in ``<generation>/index.faiss``), ``milvus://HOST:PORT`` (a Milvus server or
cluster) or a path ending in ``.db`` (Milvus Lite, embedded in the process: one process at a
time, for tests and single-machine trials). The catalog and pivotal tokens stay in the
generation folder either way; the manifest's ``vector_store`` names the collection.

Atomic generations: an index folder owns two collections, ``<prefix>_a`` and ``<prefix>_b``. A
publish brings the one *not* in service up to date (upsert of new and changed items by id,
delete of removed ones: only the difference is written), then the manifest switches to it and
the alias ``<prefix>`` follows. A service holds the collection its manifest named, so a reload
swaps from one complete collection to the other, never through a half-written one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lodisc.index_format.vectors import FLAT_MAX, HNSW_EF_SEARCH, IndexFileError, normalise

logger = logging.getLogger(__name__)

FAISS = "faiss"
SCHEME = "milvus://"
LITE_SUFFIX = ".db"
CONNECT_TIMEOUT_S = 10.0  # an unreachable server fails within this, never hangs
WRITE_BATCH = 1000  # rows per upsert: 1000 x 1280-d float32 is 5 MB, under gRPC's 64 MB cap
READ_BATCH = 4096  # rows per query-iterator page when diffing a collection
KEY_CHARS = 160  # "content sha256:model sha256" (129 characters)
# Reads of a collection in service. A published collection is flushed and loaded before the
# manifest names it and is never written while in service (the next build writes its twin), so
# reads need not wait for the server's time tick: with "Strong" every search on a Milvus server
# waited for it, 200 ms per query (bench/vector_store.py --milvus-uri), 2 ms with "Eventually".
READ_CONSISTENCY = "Eventually"
# HNSW's graph quality and search width, as the FAISS index uses (vectors.py).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80


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


def collection_prefix(index_dir: Path) -> str:
    """Collection name prefix of an index folder (its alias): stable for the folder's path."""
    digest = hashlib.sha256(str(Path(index_dir).resolve()).encode()).hexdigest()[:12]
    return f"lodisc_{digest}"


def index_type_for(kind: str, count: int) -> str:
    """Milvus index type of an ``--index`` kind: FLAT (exact) or HNSW, as FAISS would choose.

    Raises:
        VectorStoreError: a kind Milvus is not set up for here (IVF-PQ, FAISS factory strings).
    """
    if kind == "auto":
        kind = "flat" if count <= FLAT_MAX else "hnsw"
    if kind in ("flat", "hnsw"):
        return kind.upper()
    raise VectorStoreError(f"--index {kind!r} with a Milvus vector store: use auto, flat or hnsw")


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


def publish_collection(
    client: Any,
    collection: str,
    ids: np.ndarray,
    keys: list[str],
    vectors: np.ndarray,
    index_type: str,
) -> dict[str, int]:
    """Bring ``collection`` to exactly these items: upsert new and changed ids, delete the rest.

    Args:
        client: a ``MilvusClient``.
        collection: the collection not in service (created, or recreated if its dim differs).
        ids: (N,) int64 item ids.
        keys: (N,) per item ``content sha256:model sha256``; an id whose key is unchanged is
            not written again.
        vectors: (N, D) float32 embeddings (normalised here).
        index_type: FLAT or HNSW.

    Returns:
        Rows ``upserted`` and ``deleted``.
    """
    dim = int(vectors.shape[1])
    held = _held_keys(client, collection, dim, index_type)
    wanted = dict(zip((int(i) for i in ids), keys, strict=True))
    removed = sorted(set(held) - set(wanted))
    changed = np.array([held.get(i) != key for i, key in wanted.items()], dtype=bool)  # (N,)
    unit = normalise(vectors)
    rows = np.flatnonzero(changed)
    for start in range(0, len(rows), WRITE_BATCH):
        chunk = rows[start : start + WRITE_BATCH]
        client.upsert(
            collection,
            [{"id": int(ids[r]), "key": keys[r], "vector": unit[r]} for r in chunk],
        )
    for start in range(0, len(removed), WRITE_BATCH):
        client.delete(collection, ids=removed[start : start + WRITE_BATCH])
    # Seal what was written, so searches use the index rather than scan unindexed rows (Milvus
    # Lite at 100k: 3.5 s per query before a flush, 0.15 s after).
    client.flush(collection)
    client.load_collection(collection)
    return {"upserted": int(len(rows)), "deleted": len(removed)}


def point_alias(client: Any, alias: str, collection: str) -> None:
    """Make ``alias`` name ``collection`` (for tools outside the service; it reads the manifest)."""
    if alias in client.list_aliases().get("aliases", []):
        client.alter_alias(collection_name=collection, alias=alias)
    else:
        client.create_alias(collection_name=collection, alias=alias)


def _held_keys(client: Any, collection: str, dim: int, index_type: str) -> dict[int, str]:
    """id -> key of what ``collection`` holds, creating it (or recreating it) where it cannot
    take vectors of ``dim`` with ``index_type``."""
    if client.has_collection(collection):
        fields = client.describe_collection(collection)["fields"]
        held_dim = next(int(f["params"]["dim"]) for f in fields if f["name"] == "vector")
        held_type = str(client.describe_index(collection, "vector").get("index_type", ""))
        if held_dim == dim and held_type == index_type:
            client.load_collection(collection)
            return dict(_iterate_keys(client, collection))
        logger.info("recreating %s (dim %d -> %d, %s)", collection, held_dim, dim, index_type)
        client.drop_collection(collection)
    _create(client, collection, dim, index_type)
    return {}


def _iterate_keys(client: Any, collection: str) -> Iterator[tuple[int, str]]:
    """(id, key) of every row, page by page."""
    pages = client.query_iterator(
        collection, batch_size=READ_BATCH, filter="", output_fields=["key"]
    )
    try:
        while page := pages.next():
            yield from ((int(row["id"]), str(row["key"])) for row in page)
    finally:
        pages.close()


def _create(client: Any, collection: str, dim: int, index_type: str) -> None:
    """An empty collection: int64 id, the content key, the vector; inner product, strong reads."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("key", DataType.VARCHAR, max_length=KEY_CHARS)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    params = client.prepare_index_params()
    build = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION} if index_type == "HNSW" else {}
    params.add_index(field_name="vector", index_type=index_type, metric_type="IP", params=build)
    client.create_collection(
        collection, schema=schema, index_params=params, consistency_level="Strong"
    )


def canonical_store(store: str) -> str:
    """``store`` as the manifest records it: a Lite file as an absolute path."""
    value = store.strip()
    return client_uri(value) if value.endswith(LITE_SUFFIX) else value


def publish_vectors(
    store: str,
    index_dir: Path,
    live: dict[str, Any] | None,
    ids: np.ndarray,
    keys: list[str],
    vectors: np.ndarray,
    kind: str,
) -> dict[str, Any]:
    """Write a generation's vectors into the collection of ``index_dir`` not in service.

    Args:
        store: ``milvus://HOST:PORT`` or a Milvus Lite ``.db`` path.
        index_dir: the index folder (names the collections).
        live: the manifest in service (None: nothing published yet).
        ids, keys, vectors: as :func:`publish_collection` takes them.
        kind: the ``--index`` kind (auto, flat or hnsw).

    Returns:
        The manifest's ``vector_store`` entry: ``uri``, ``collection``, ``alias``, ``index_type``
        and the rows ``upserted`` and ``deleted``.
    """
    index_type = index_type_for(kind, len(ids))
    prefix = collection_prefix(index_dir)
    names = (f"{prefix}_a", f"{prefix}_b")
    in_service = ((live or {}).get("vector_store") or {}).get("collection")
    target = names[1] if in_service == names[0] else names[0]
    client = connect(store)
    try:
        counts = publish_collection(client, target, ids, keys, vectors, index_type)
    except VectorStoreError:
        raise
    except Exception as err:  # noqa: BLE001
        raise VectorStoreError(f"cannot write {target} in the vector store {store}: {err}") from err
    finally:
        client.close()
    logger.info("%s in %s: %s", target, store, counts)
    entry = {"uri": canonical_store(store), "collection": target, "alias": prefix}
    return {**entry, "index_type": f"milvus:{index_type}", **counts}


def follow_alias(entry: dict[str, Any]) -> None:
    """Point the folder's alias at the collection just published (after the manifest switched)."""
    client = connect(str(entry["uri"]))
    try:
        point_alias(client, str(entry["alias"]), str(entry["collection"]))
    finally:
        client.close()
