"""``POST /admin/reload`` on a real uvicorn while eight clients search without pause."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fault_reload import run_reload_under_load
from tests.reliability.fault_helpers import build_fault_model

RELOADS = 3


@pytest.mark.slow
def test_reload_under_load_fails_no_request_and_serves_the_new_generation(
    tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tmp_path: Path
) -> None:
    model = build_fault_model(tmp_path_factory)[1]
    run = run_reload_under_load(tmp_path, model, tiny_data / "train", 8, RELOADS)
    assert run.reload_statuses == [200] * RELOADS
    assert run.failure_count == 0, run.failures
    assert run.requests >= 50 * (RELOADS + 1)
    assert len(set(run.generations)) == RELOADS + 1
    assert all(run.per_generation.get(g, 0) > 0 for g in run.generations), run.per_generation
    assert run.stale_after_reload == 0  # nothing started after a reload came from an older index
