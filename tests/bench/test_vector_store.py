"""bench/vector_store.py: the vector part on a small set finds the exact top-10 in Milvus Lite."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pymilvus")

from bench.common.tables import format_vector_stores  # noqa: E402
from bench.vector_store import measure_vectors, parse_args  # noqa: E402


def test_small_vector_run_has_exact_recall(tmp_path: Path) -> None:
    args = parse_args(["--dim", "16", "--queries", "5", "--seconds", "0.3", "--clients", "4"])
    row = measure_vectors(500, args, tmp_path)
    assert set(row) == {"size", "faiss_flat", "milvus_lite"}  # no --milvus-uri: no server
    assert row["milvus_lite"]["recall_at_10"] == 1.0 and row["milvus_lite"]["one_ms"]["p50"] > 0
    for store in ("faiss_flat", "milvus_lite"):  # 4 threads for 0.3 s
        many = row[store]["many_ms"]
        assert 0 < many["p50"] <= many["p95"] and many["per_s"] > 4 / 0.3
    level = {"p50_ms": 1.0, "p95_ms": 2.0, "requests_per_s": 3.0, "errors": 0}
    service = {name: {"1_clients": level, "16_clients": level} for name in ("faiss", "milvus_lite")}
    service |= {"gallery_items": 4, "queries": 2}
    service["agreement"] = {
        "milvus_lite": {"identical_top10_share": 1.0, "recall_at_10_vs_faiss_flat": 1.0}
    }
    result = {"load_before": "0", "load_after": "0", "clients": 16, "vectors": [row]}
    text = format_vector_stores({**result, "service": service, "milvus_uri": None})
    assert "| 500 | 1 |" in text and "| 500 | 16 |" in text and "Milvus Lite FLAT recall@10" in text
    assert "| milvus_lite | 1.0 / 2.0 |" in text and "No Milvus server was measured" in text
