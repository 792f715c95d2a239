"""bench/indexer_throughput.py: a tiny run reports its figures and its time split adds up."""

from __future__ import annotations

import json

import pytest

from bench.indexer_throughput import main

TINY = ["--images", "8", "--rounds", "1", "--photo-size", "64x48", "--img-size", "32"]


@pytest.mark.slow
def test_tiny_run_reports_ratio_and_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY, "--batch-size", "4", "--workers", "0", "--no-record"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 8 and result["index_vs_encoder"] > 0
    split = result["breakdown"]
    assert split["instrumented_embed_s"] >= 0 and split["instrumented_first_batch_wait_s"] >= 0
    assert (
        split["instrumented_wall_s"]
        >= split["instrumented_embed_s"] + split["instrumented_wait_s"] - 0.02
    )  # rounding
