"""The output folder of a pretraining run: checked before training, tidied after a crash.

A run writes ``checkpoint.pt``, ``metrics.jsonl`` and ``config.yaml`` there, each atomically (a
temporary file renamed over the target); a killed run can leave those temporary files and metric
lines newer than its last checkpoint, which a resume removes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from lodisc.atomic import atomic_write_text
from lodisc.checkpoint import CheckpointError
from lodisc.config import PretrainConfig
from lodisc.data.image_folders import DataError
from training.engine import CHECKPOINT_NAME, METRICS_NAME

logger = logging.getLogger(__name__)


def prepare_out(cfg: PretrainConfig) -> Path:
    """Create OUT (checking it is writable); on resume keep only metrics up to the checkpoint."""
    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise DataError(f"cannot write to output folder {out}: {err.strerror}") from err
    checkpoint = out / CHECKPOINT_NAME
    if cfg.resume and not checkpoint.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {checkpoint}")
    if not cfg.resume and checkpoint.is_file():
        raise CheckpointError(
            f"{checkpoint} exists: pass --resume to continue or choose another --out"
        )
    remove_stale_temp_files(out)
    return out


def remove_stale_temp_files(out: Path) -> None:
    """Delete the temporary files of atomic writes a killed run left behind (never the targets)."""
    for name in (CHECKPOINT_NAME, METRICS_NAME, "config.yaml"):
        for stale in out.glob(f".{name}.*.tmp"):
            logger.info("removing %s left by an interrupted run", stale)
            stale.unlink(missing_ok=True)


def truncate_metrics(out: Path, step: int) -> None:
    """Drop metric lines written after the checkpoint being resumed (a crash left them behind)."""
    path = out / METRICS_NAME
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if yaml.safe_load(line).get("step", 0) <= step]
        atomic_write_text(path, "".join(kept))
