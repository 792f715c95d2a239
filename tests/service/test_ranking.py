"""Re-ranking by pivotal tokens: the rule, and the service with it switched on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from lodisc.index_format.catalog import Item
from lodisc.index_format.pivotal_tokens import PivotalTokens
from service.config import Settings
from service.main import create_app
from service.ranking import Reranker, pivotal_query_tokens
from service.search_outcome import Explanation, Hit


def _hit(item_id: int, score: float) -> Hit:
    return Hit(item_id, score, Item(item_id, f"{item_id}.png", "", "", 1, 1, ""))


def test_rerank_combines_global_and_local_scores() -> None:
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(4, 8)).astype(np.float32)
    heat = np.array([[1.0, 0.9], [0.1, 0.0]], dtype=np.float32)
    query = Explanation(np.zeros(8, np.float32), heat, patches)
    own = pivotal_query_tokens(query, 2)
    np.testing.assert_array_equal(own, patches[:2])
    stored = np.stack([rng.normal(size=(2, 8)), own])  # item 1 random, item 2 = the query's
    stored = (stored / np.linalg.norm(stored, axis=-1, keepdims=True)).astype(np.float16)
    reranker = Reranker(
        PivotalTokens(np.array([1, 2]), stored), candidates=2, weight=0.5, keep_ratio=0.5
    )
    ranked = reranker.rerank(query, [_hit(1, 0.9), _hit(2, 0.8)])
    assert [h.id for h in ranked] == [2, 1]  # the local match outweighs a 0.1 global lead
    assert ranked[0].global_score == 0.8 and abs(ranked[0].score - 0.9) < 1e-2
    assert reranker.rerank(query, []) == []


def test_the_service_reranks_when_asked(settings: Settings, gallery_files: list[Path]) -> None:
    files = {"image": ("q.png", gallery_files[2].read_bytes(), "image/png")}
    on = settings.model_copy(update={"rerank": True, "rerank_candidates": 20})
    with TestClient(create_app(on)) as client:
        body = client.post("/search", files=files, params={"k": 5}).json()
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True) and abs(scores[0] - 1.0) < 1e-3
    assert body["results"][0]["duplicate"] is True


def test_min_score_applies_to_the_reranked_score(
    settings: Settings, gallery_files: list[Path]
) -> None:
    files = {"image": ("q.png", gallery_files[2].read_bytes(), "image/png")}
    on = settings.model_copy(update={"rerank": True, "rerank_candidates": 20})
    with TestClient(create_app(on)) as client:
        whole = client.post("/search", files=files, params={"k": 8}).json()["results"]
        cut = whole[2]["score"]
        kept = client.post("/search", files=files, params={"k": 8, "min_score": cut}).json()
    assert [h["id"] for h in kept["results"]] == [h["id"] for h in whole if h["score"] >= cut]
    assert len(kept["results"]) >= 3 and kept["results"][-1]["score"] >= cut
