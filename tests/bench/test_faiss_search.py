"""bench/faiss_search.py: a small run reports recall and latency; the what-if build uses its efc."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from bench.common.synthetic_vectors import DATASETS, clustered_vectors
from bench.faiss_search import main, what_if_hnsw


def test_small_run_reports_exact_recall(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--sizes", "500", "--stress-size", "0", "--no-ivfpq", "--queries", "20", "--dim", "16"]
    assert main([*argv, "--no-record"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (row,) = result["faiss"]
    assert row["factory"] == "IDMap2,Flat" and row["recall_at_10"] == 1.0
    assert row["tuned"] == {} and row["ms_1_thread"]["p50"] > 0


def test_what_if_builds_with_the_given_ef_construction() -> None:
    data = clustered_vectors(1000, 16, DATASETS["fine"], seed=0)
    queries = clustered_vectors(10, 16, DATASETS["fine"], seed=1)
    exact = faiss.IndexFlatIP(16)
    exact.add(data / np.linalg.norm(data, axis=1, keepdims=True))
    _, truth = exact.search(queries / np.linalg.norm(queries, axis=1, keepdims=True), 5)
    (row,) = what_if_hnsw("IDMap2,HNSW32,Flat", data, queries, truth, 5, [20])
    assert row["efConstruction"] == 20 and row["build_s"] >= 0
    assert 0.0 <= row["recall_ef64"] <= 1.0 and "recall_ef128" in row
