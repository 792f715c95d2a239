"""The run folder: refused when it would be overwritten or cannot be written, tidied on resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lodisc.checkpoint import CheckpointError
from lodisc.config import PretrainConfig
from lodisc.data.image_folders import DataError
from training.engine import CHECKPOINT_NAME, METRICS_NAME
from training.run_folder import prepare_out, truncate_metrics


def test_a_new_run_never_overwrites_a_checkpoint_and_a_resume_needs_one(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert prepare_out(PretrainConfig(out=str(out))) == out and out.is_dir()
    with pytest.raises(CheckpointError, match="--resume: no checkpoint"):
        prepare_out(PretrainConfig(out=str(out), resume=True))
    (out / CHECKPOINT_NAME).write_bytes(b"weights")
    with pytest.raises(CheckpointError, match="exists: pass --resume"):
        prepare_out(PretrainConfig(out=str(out)))
    assert prepare_out(PretrainConfig(out=str(out), resume=True)) == out
    assert (out / CHECKPOINT_NAME).read_bytes() == b"weights"


def test_temporary_files_of_a_killed_write_are_removed_and_the_targets_kept(
    tmp_path: Path,
) -> None:
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"weights")
    stale = [tmp_path / f".{CHECKPOINT_NAME}.x1.tmp", tmp_path / f".{METRICS_NAME}.x2.tmp"]
    for path in stale:
        path.write_text("half written")
    other = tmp_path / "notes.tmp"
    other.write_text("the user's")
    prepare_out(PretrainConfig(out=str(tmp_path), resume=True))
    assert not any(path.exists() for path in stale)
    assert (tmp_path / CHECKPOINT_NAME).exists() and other.exists()


def test_a_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DataError, match="cannot write to output folder .*a-file"):
        prepare_out(PretrainConfig(out=str(tmp_path / "a-file" / "run")))


def test_metric_lines_after_the_resumed_step_are_dropped(tmp_path: Path) -> None:
    lines = [json.dumps({"step": step, "loss": 1.0 / step}) for step in (10, 20, 30, 40)]
    (tmp_path / METRICS_NAME).write_text("\n".join(lines) + "\n")
    truncate_metrics(tmp_path, 20)
    kept = (tmp_path / METRICS_NAME).read_text().splitlines()
    assert [json.loads(line)["step"] for line in kept] == [10, 20]
    truncate_metrics(tmp_path / "nowhere", 5)  # no metrics yet: nothing to do
