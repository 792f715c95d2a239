"""bench/train_step.py: the arch's own patch size unless asked, and a tiny run's figures."""

from __future__ import annotations

import json

import pytest

from bench.train_step import main, own_patch_size


def test_own_patch_size_reads_the_arch() -> None:
    assert own_patch_size("vit_small_patch16_224") == 16
    assert own_patch_size("vit_small_patch8_224") == 8


@pytest.mark.parametrize(("flags", "patch"), [([], 16), (["--patch-size", "8"], 8)])
def test_runs_at_the_arch_patch_size_unless_given(
    flags: list[str], patch: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--img-size", "32", "--batch-size", "2", "--steps", "1", "--warmup", "0"]
    argv += ["--predictor-hidden-dim", "32", "--threads", "0", "--no-record", *flags]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["patch_size"] == patch and result["ratio"] > 0
