"""``kill -9`` of training mid-epoch and inside its checkpoint write: the checkpoint always loads,
and ``--resume`` finishes the run with the losses the killed runs logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fault_training import run_training_kills

EPOCHS = 3


@pytest.mark.slow
def test_killed_training_keeps_a_loadable_checkpoint_and_resume_finishes(
    tiny_data: Path, tmp_path: Path
) -> None:
    run = run_training_kills(tmp_path, tiny_data, seed=0, epochs=EPOCHS)
    steps = run.steps_per_epoch
    mid_epoch, in_write = run.kills
    # Killed inside epoch 2: the checkpoint of epoch 1 loads, later steps are lost.
    assert mid_epoch.checkpoint_step == steps < mid_epoch.last_logged_step < 2 * steps
    # Killed while writing the epoch-2 checkpoint: the epoch-1 file is untouched and loads.
    assert in_write.last_logged_step == 2 * steps and in_write.checkpoint_step == steps
    assert in_write.checkpoint_unchanged and in_write.leftovers  # a half-written temporary
    assert run.exit_code == 0
    assert run.progress == {"epoch": EPOCHS, "batch_in_epoch": 0, "step": EPOCHS * steps}
    assert run.logged_steps == list(range(1, EPOCHS * steps + 1))  # each step logged once
    assert run.compared_steps >= steps + 1 and run.max_loss_rel_diff <= 1e-5
    assert run.leftovers == []  # --resume removed the killed write's temporary file
