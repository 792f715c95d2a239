"""FaissIndex: cosine (inner product on L2-normalised vectors) search with stable int64 ids."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from lodisc.atomic import atomic_path

logger = logging.getLogger(__name__)

FLAT_MAX = 50_000  # exact search up to here (NOTES.md: 12.8 ms/query at 100k on one thread)
IVF_MIN = 2_000_000  # IVF-PQ with a full-vector refine beyond this; HNSW in between
HNSW_M = 32  # graph degree
HNSW_EF_SEARCH = 128
IVF_NPROBE = 64  # capped at the index's nlist
REFINE_K_FACTOR = 8  # IVF-PQ candidates re-ranked on full vectors: k_factor x k
# FAISS reports a failed write as a RuntimeError quoting strerror(errno); these are recognised.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO)
# Graph quality: at FAISS's default 40 about 2.5% of queries stay stuck (recall@10 plateaus at 0.99
# at 100k and 0.98 at 1M whatever efSearch); 80 gives 0.9995 at efSearch 128 (bench/faiss_search.py).
HNSW_EF_CONSTRUCTION = 80
# Names of the search-time parameters, as FAISS's ParameterSpace spells them.
SEARCH_PARAMS = ("efSearch", "nprobe", "k_factor")


class IndexFileError(ValueError):
    """An index file that cannot be read or does not fit, naming the file."""


def choose_factory(count: int, dim: int, kind: str = "auto") -> str:
    """FAISS factory string for ``kind`` (auto|flat|hnsw|ivfpq) or ``kind`` itself as a factory.

    IVF-PQ alone is too coarse for fine-grained neighbours (NOTES.md: recall@10 0.27), so it always
    carries a refine stage on full vectors (``RFlat``); ``np`` disables slow polysemous training.
    """
    if kind == "auto":
        kind = "flat" if count <= FLAT_MAX else ("hnsw" if count < IVF_MIN else "ivfpq")
    if kind == "flat":
        return "IDMap2,Flat"
    if kind == "hnsw":
        return f"IDMap2,HNSW{HNSW_M},Flat"
    if kind == "ivfpq":
        nlist = int(min(65536, max(64, 4 * np.sqrt(max(count, 1)))))
        sub = next(
            m for m in (64, 48, 32, 24, 16, 8, 4, 2, 1) if dim % m == 0 and 4 * m <= max(4, dim)
        )
        return f"IDMap2,IVF{nlist},PQ{sub}np,RFlat"
    return kind


class FaissIndex:
    """A FAISS index over L2-normalised float32 vectors with caller-chosen int64 ids."""

    def __init__(self, index: faiss.Index, factory: str) -> None:
        self.index = index
        self.factory = factory
        self._tune()

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray,
        kind: str = "auto",
        ef_construction: int = HNSW_EF_CONSTRUCTION,
    ) -> FaissIndex:
        """Train (when needed) and fill an index.

        Args:
            vectors: (N, D) float32 embeddings (normalised here).
            ids: (N,) int64 item ids.
            kind: auto | flat | hnsw | ivfpq | a FAISS factory string.
            ef_construction: HNSW graph quality (ignored by other index types); the default is
                what published indexes use, other values are for benchmarks.
        """
        vectors = normalise(vectors)
        factory = choose_factory(len(vectors), vectors.shape[1], kind)
        try:
            index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as err:
            raise IndexFileError(f"invalid FAISS factory string {factory!r}: {err}") from err
        graph = faiss.downcast_index(index.index) if hasattr(index, "index") else index
        if isinstance(graph, faiss.IndexHNSW):
            graph.hnsw.efConstruction = ef_construction
        if not index.is_trained:
            index.train(vectors)
        if len(vectors):
            index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
        return cls(index, factory)

    def _tune(self) -> None:
        """Search-time parameters that keep recall@10 >= 0.95 (checked by bench/faiss_search.py)."""
        self.set_search_params(default_search_params(self.index))
        # FAISS compares this with queries x dim: 4 d keeps a single query off BLAS (0.34 vs
        # 2.8 ms exact at 10k) while a 64-query batch uses it (bench/faiss_search.py).
        faiss.cvar.distance_compute_blas_threshold = 4 * self.dim

    def search_params(self) -> dict[str, int]:
        """The search-time parameters this index has (see ``SEARCH_PARAMS``) and their values.

        Returns:
            e.g. ``{"efSearch": 128}`` for HNSW, ``{"nprobe": 64, "k_factor": 8}`` for IVF-PQ with
            a refine stage, ``{}`` for exact search.
        """
        stages = _search_stages(self.index)
        values = {}
        if stages["hnsw"] is not None:
            values["efSearch"] = int(stages["hnsw"].efSearch)
        if stages["ivf"] is not None:
            values["nprobe"] = int(stages["ivf"].nprobe)
        if stages["refine"] is not None:
            values["k_factor"] = int(stages["refine"].k_factor)
        return values

    def set_search_params(self, params: Mapping[str, int]) -> None:
        """Set search-time parameters (for benchmarks' sweeps; ``load``/``build`` set the defaults).

        Args:
            params: values by name (``efSearch``, ``nprobe``, ``k_factor``); ``nprobe`` is capped
                at the index's ``nlist``.

        Raises:
            ValueError: a name that is not a parameter of this index.
        """
        stages = _search_stages(self.index)
        for name, value in params.items():
            if name == "efSearch" and stages["hnsw"] is not None:
                stages["hnsw"].efSearch = int(value)
            elif name == "nprobe" and stages["ivf"] is not None:
                stages["ivf"].nprobe = min(int(value), stages["ivf"].nlist)
            elif name == "k_factor" and stages["refine"] is not None:
                stages["refine"].k_factor = float(value)
            else:
                raise ValueError(f"{self.factory or 'this index'} has no search parameter {name!r}")

    @property
    def count(self) -> int:
        """Number of vectors."""
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        """Vector width."""
        return int(self.index.d)

    def search(
        self, queries: np.ndarray, k: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k cosine similarities (B, k) and ids (B, k); missing slots have id -1.

        Args:
            queries: (B, D) vectors (normalised here).
            k: results per query.
            among: only these ids are candidates (a filter applied inside the search, so a
                selective filter still returns k results when k items pass it).
        """
        if among is None:
            return self.index.search(normalise(queries), k)
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(among, dtype=np.int64))
        return self.index.search(normalise(queries), k, params=faiss.SearchParameters(sel=selector))  # type: ignore[call-arg]

    def reconstruct(self, item_id: int) -> np.ndarray:
        """The stored vector of one id (exact for flat/HNSW storage)."""
        return np.asarray(self.index.reconstruct(int(item_id)), dtype=np.float32)

    def save(self, path: str | Path) -> None:
        """Write atomically; on failure ``path`` is left as it was and no temporary file remains.

        Raises:
            OSError: the write failed (e.g. ``ENOSPC``: no space left), naming ``path``.
        """
        path = Path(path)
        try:
            with atomic_path(path) as tmp:
                faiss.write_index(self.index, str(tmp))
        except RuntimeError as err:
            raise _write_error(path, err) from err

    @classmethod
    def load(cls, path: str | Path, factory: str = "") -> FaissIndex:
        """Read an index file, naming it on failure."""
        path = Path(path)
        if not path.is_file():
            raise IndexFileError(f"index file not found: {path}")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as err:
            # FAISS prefixes the reason with the C++ function and source line: keep the reason.
            reason = str(err).splitlines()[0].rsplit("Error: ", 1)[-1]
            raise IndexFileError(
                f"cannot read index {path} (truncated or corrupt?): {reason}"
            ) from err
        return cls(index, factory)


def default_search_params(index: faiss.Index) -> dict[str, int]:
    """The search-time parameters published indexes are searched with (recall@10 >= 0.95).

    ``k_factor`` is set only behind an IVF stage (the refine stage of ``choose_factory``'s IVF-PQ).
    """
    stages = _search_stages(index)
    params = {}
    if stages["hnsw"] is not None:
        params["efSearch"] = HNSW_EF_SEARCH
    if stages["ivf"] is not None:
        params["nprobe"] = IVF_NPROBE
        if stages["refine"] is not None:
            params["k_factor"] = REFINE_K_FACTOR
    return params


def _search_stages(index: faiss.Index) -> dict[str, Any]:
    """The objects holding search-time parameters: hnsw, ivf and refine (None where absent)."""
    wrapped = hasattr(index, "index")  # IDMap2 around the index proper
    inner = faiss.downcast_index(index.index) if wrapped else index  # type: ignore[attr-defined]
    return {
        "hnsw": inner.hnsw if isinstance(inner, faiss.IndexHNSW) else None,
        "ivf": faiss.try_extract_index_ivf(index),
        "refine": inner if wrapped and isinstance(inner, faiss.IndexRefine) else None,
    }


def _write_error(path: Path, err: RuntimeError) -> OSError:
    """The OSError behind a FAISS write failure (EIO when its message names no known cause)."""
    text = str(err)
    code = next((c for c in WRITE_ERRNOS if os.strerror(c) in text), None)
    if code is None:
        return OSError(errno.EIO, f"cannot write index: {text.splitlines()[0][:200]}", str(path))
    return OSError(code, os.strerror(code), str(path))


def normalise(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows into a contiguous float32 array."""
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)
