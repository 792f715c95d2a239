"""bench/mask_eval.py: a small run finds the vectorised and loop versions equal."""

from __future__ import annotations

import json

import pytest

from bench.mask_eval import main


def test_small_run_reports_speedups(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--batch", "2", "--patches", "16", "--n", "60", "--dim", "8", "--classes", "4"]
    assert main([*argv, "--vec-runs", "1", "--loop-runs", "1", "--no-record"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["mask_speedup"] > 0 and result["eval_speedup"] > 0
