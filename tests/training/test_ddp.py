"""torchrun with 2 gloo processes on CPU gives the losses of 1 process with the same global batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "training" / "configs" / "tiny_cpu.yaml"
PHOTO = REPO / "training" / "configs" / "photo_cpu.yaml"


def _run(command: list[str], timeout: float) -> None:
    """Run in a new session; on timeout kill the whole group (torchrun workers included)."""
    process = subprocess.Popen(command, start_new_session=True)
    try:
        assert process.wait(timeout=timeout) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _losses(out: Path) -> list[float]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if '"loss"' in line]


def _one_and_two_processes(args: list[str], tmp_path: Path) -> tuple[list[float], list[float]]:
    """The logged losses of ``args`` in one process and in two torchrun (gloo) processes."""
    single, double = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, *args, "--out", str(single)], timeout=240)
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    _run([*torchrun, *args, "--out", str(double)], timeout=240)
    return _losses(single), _losses(double)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_gloo_processes_equal_one(tiny_data: Path, tmp_path: Path) -> None:
    args = [
        str(REPO / "training" / "pretrain.py"),
        "--data",
        str(tiny_data),
        "--config",
        str(TINY),
        "--batch-size",
        "8",
        "--max-steps",
        "4",
        "--device",
        "cpu",
        "--set",
        "encoder.predictor_dropout=0.0",
        "--set",
        "log_every=1",
        "--set",
        "diagnostic_every=1000",
    ]
    one, two = _one_and_two_processes(args, tmp_path)
    assert len(one) == len(two) == 4
    assert two == pytest.approx(one, rel=1e-4)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_photo_encoder_under_torchrun_equals_one_process(tiny_data: Path, tmp_path: Path) -> None:
    """The hybrid (frozen Lite0 stem, pretrained start from the wheel) in the photo recipe."""
    args = [str(REPO / "training" / "pretrain.py"), "--data", str(tiny_data)]
    args += ["--config", str(PHOTO), "--batch-size", "8", "--max-steps", "2", "--device", "cpu"]
    for setting in ("encoder.img_size=64", "log_every=1", "diagnostic_every=1000", "num_workers=0"):
        args += ["--set", setting]
    one, two = _one_and_two_processes(args, tmp_path)
    assert len(one) == len(two) == 2
    assert two == pytest.approx(one, rel=1e-4)
