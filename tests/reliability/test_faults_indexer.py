"""``kill -9`` of the indexer CLI at five seeded random points: the previous index keeps loading and
serving, and the rerun ends with the index an uninterrupted build gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fault_indexer import KILL_PLANS, VECTOR_ATOL, run_indexer_kills
from tests.reliability.fault_helpers import build_fault_model

EXTRA_IMAGES = 600  # added after the first build: the work the killed runs share out
SEEDS = (0, 1)  # a second history when a kill did not land where planned (a busy machine)
PHASES = {"start-up/scan", "embedding", "publish"}


@pytest.mark.slow
def test_kills_keep_the_old_index_serving_and_the_rerun_matches_a_clean_build(
    tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tmp_path: Path
) -> None:
    model = build_fault_model(tmp_path_factory)[1]
    for seed in SEEDS:  # kills are timed against a live process: retry a history that missed one
        work = tmp_path / f"seed{seed}"
        run = run_indexer_kills(work, model, tiny_data / "test", EXTRA_IMAGES, seed, KILL_PLANS)
        landed = [kill.landed for kill in run.kills]
        if PHASES <= set(landed):
            break
    assert len(run.kills) >= 5 and PHASES <= set(landed), landed
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
