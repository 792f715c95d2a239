"""``kill -9`` of the indexer CLI at five seeded random points: the previous index keeps loading and
serving, and the rerun ends with the index an uninterrupted build gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fault_indexer import KILL_PLANS, VECTOR_ATOL, run_indexer_kills
from tests.reliability.fault_helpers import build_fault_model

EXTRA_IMAGES = 600  # added after the first build: the work the killed runs share out
SEED = 0


@pytest.mark.slow
def test_kills_keep_the_old_index_serving_and_the_rerun_matches_a_clean_build(
    tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tmp_path: Path
) -> None:
    model = build_fault_model(tmp_path_factory)[1]
    run = run_indexer_kills(tmp_path, model, tiny_data / "test", EXTRA_IMAGES, SEED, KILL_PLANS)
    landed = [kill.landed for kill in run.kills]
    assert len(run.kills) >= 5 and {"start-up/scan", "embedding", "publish"} <= set(landed)
    embedded = [kill.embedded for kill in run.kills if kill.landed == "embedding"]
    assert len(embedded) >= 3 and embedded == sorted(set(embedded))  # spread over the embedding
    assert 16 < embedded[0] and embedded[-1] < run.total == 16 + EXTRA_IMAGES
    for kill in run.kills:  # after every kill the previous generation loads and finds its images
        assert kill.generation == run.old_generation and kill.self_top1, kill
    publish_kill = run.kills[landed.index("publish")]
    assert any(name.startswith(".gen-") for name in publish_kill.leftovers)  # killed mid-write
    assert run.rerun["items"] == run.total and run.rerun["republished"]
    assert run.rerun["embedded"] == run.total - publish_kill.embedded
    assert run.differences == []  # manifest (but built_at, generation) and catalog rows
    assert run.max_vector_diff <= VECTOR_ATOL
    assert run.leftovers == []  # the rerun removed what the killed publish left
