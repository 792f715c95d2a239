"""Training faults: ``kill -9`` of ``training/pretrain.py`` mid-epoch and while it writes its
checkpoint, then ``--resume``; and a checkpoint written to a full disk.

Shared by tests/reliability/ (which assert on the results) and bench/faults.py (which tabulates them).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.fault_injection import (
    REPO,
    FullDiskRun,
    fill_disk,
    kill_when,
    python_command,
    run_cli,
    start,
    temp_leftovers,
)
from lodisc.checkpoint import CheckpointError, read_checkpoint
from training import pretrain
from training.engine import CHECKPOINT_NAME, METRICS_NAME

TINY_CONFIG = REPO / "training" / "configs" / "tiny_cpu.yaml"
BATCH = 8
KILL_DELAY_S = (0.0, 0.05)  # a tiny-config step takes about 0.2 s here: the kill stays mid-step


@dataclass
class TrainingKill:
    """One ``kill -9`` of the training CLI and the checkpoint it left."""

    plan: str  # mid-epoch | checkpoint write
    last_logged_step: int
    checkpoint_step: (
        int | None
    )  # progress of the checkpoint that loads afterwards (None: unreadable)
    checkpoint_unchanged: bool  # byte-identical to the one before this run
    leftovers: list[str]


@dataclass
class TrainingKillRun:
    """Two kills, then ``--resume`` to the end, compared with the losses the killed runs logged."""

    steps_per_epoch: int
    epochs: int
    kills: list[TrainingKill] = field(default_factory=list)
    exit_code: int = -1
    progress: dict[str, int] = field(default_factory=dict)
    logged_steps: list[int] = field(default_factory=list)
    compared_steps: int = 0
    max_loss_rel_diff: float = float("nan")
    leftovers: list[str] = field(default_factory=list)
    seconds: float = 0.0


def pretrain_args(data: Path, out: Path, epochs: int) -> list[str]:
    """Flags of a tiny run logging every step (no mask diagnostics)."""
    return [
        *("--data", str(data), "--out", str(out), "--config", str(TINY_CONFIG)),
        *("--batch-size", str(BATCH), "--epochs", str(epochs), "--num-workers", "0"),
        *("--set", "log_every=1", "--set", "diagnostic_every=100000"),
    ]


def run_training_kills(work: Path, data: Path, seed: int, epochs: int = 3) -> TrainingKillRun:
    """Kill a fresh run mid-epoch 2, kill the resumed run inside its checkpoint write, resume.

    ``data`` holds ``train/<class>/*`` with 32 images (4 steps of 8 per epoch).
    """
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    out = work / "run"
    args = pretrain_args(data, out, epochs)
    steps = len(list((data / "train").rglob("*.png"))) // BATCH
    run = TrainingKillRun(steps, epochs)
    rng = np.random.default_rng(seed)
    logged: list[tuple[int, float]] = []
    target = int(rng.integers(steps + 1, 2 * steps))  # inside epoch 2, after the first save
    process = start(python_command("training/pretrain.py", *args), work / "mid-epoch.log")
    delay = rng.uniform(*KILL_DELAY_S)
    kill_when(process, lambda: _last_step(out) >= target, delay_s=delay, timeout_s=300)
    run.kills.append(_inspect("mid-epoch", out, None, logged))
    before = (out / CHECKPOINT_NAME).read_bytes()
    process = start(python_command("training/pretrain.py", *args, "--resume"), work / "write.log")
    writing = lambda: any(out.glob(f".{CHECKPOINT_NAME}.*.tmp"))  # noqa: E731
    kill_when(process, writing, near=lambda: _last_step(out) >= 2 * steps, timeout_s=300)
    run.kills.append(_inspect("checkpoint write", out, before, logged))
    run.exit_code, _ = run_cli(pretrain.main, [*args, "--resume"])
    run.progress = read_checkpoint(out / CHECKPOINT_NAME)["progress"]
    final = _losses(out)
    run.logged_steps = sorted(final)
    compared = [(final[s], loss) for s, loss in logged if s in final]
    run.compared_steps = len(compared)
    run.max_loss_rel_diff = max(abs(a - b) / abs(a) for a, b in compared)
    run.leftovers = temp_leftovers(out)
    run.seconds = time.perf_counter() - started
    return run


def _inspect(
    plan: str, out: Path, before: bytes | None, logged: list[tuple[int, float]]
) -> TrainingKill:
    """Read what a killed run left; remember the losses it logged after its checkpoint."""
    losses = _losses(out)
    try:
        step: int | None = read_checkpoint(out / CHECKPOINT_NAME)["progress"]["step"]
    except CheckpointError:
        step = None
    logged += [(s, loss) for s, loss in losses.items() if step is None or s > step]
    unchanged = before is None or (out / CHECKPOINT_NAME).read_bytes() == before
    return TrainingKill(plan, max(losses, default=0), step, unchanged, temp_leftovers(out))


def _losses(out: Path) -> dict[int, float]:
    """step -> loss of ``metrics.jsonl`` (a line cut by the kill is skipped)."""
    path = out / METRICS_NAME
    losses = {}
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            record: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        if "loss" in record:
            losses[int(record["step"])] = float(record["loss"])
    return losses


def _last_step(out: Path) -> int:
    """The last step logged so far."""
    return max(_losses(out), default=0)


def run_pretrain_full_disk(disk: Path, data: Path, leave_bytes: int) -> FullDiskRun:
    """Train one step to a checkpoint on ``disk``, fill it, resume to the epoch's end, free space."""
    out = disk / "run"
    code, message = run_cli(pretrain.main, [*pretrain_args(data, out, 1), "--max-steps", "1"])
    if code != 0:
        raise RuntimeError(f"the first training step failed: {message}")
    before = (out / CHECKPOINT_NAME).read_bytes()
    filler = fill_disk(disk, leave_bytes)
    free = shutil.disk_usage(disk).free
    code, message = run_cli(pretrain.main, [*pretrain_args(data, out, 1), "--resume"])
    unchanged = (out / CHECKPOINT_NAME).read_bytes() == before
    result = FullDiskRun(free, code, message, unchanged, temp_leftovers(out), recovered=False)
    filler.unlink()
    code, _ = run_cli(pretrain.main, [*pretrain_args(data, out, 1), "--resume"])
    steps = len(list((data / "train").rglob("*.png"))) // BATCH
    result.recovered = (
        code == 0 and read_checkpoint(out / CHECKPOINT_NAME)["progress"]["step"] == steps
    )
    return result
