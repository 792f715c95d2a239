"""A full disk: the indexer and training stop with exit code 2 and a message saying there is no
space and naming the path; the previous files stay byte-identical and no temporary file is left.

On a real (tiny tmpfs) disk where mounting is allowed, and everywhere with ENOSPC injected into the
writers by monkeypatching.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import IO, Any

import pytest
import torch

import lodisc.index_format.manifest
import lodisc.index_format.vectors
from harness.fault_indexer import run_indexer_full_disk
from harness.fault_injection import run_cli, snapshot, temp_leftovers, write_noise_images
from harness.fault_training import pretrain_args, run_pretrain_full_disk
from indexer import build_index as build_index_cli
from indexer.gallery_index import build_index
from lodisc.atomic import atomic_path
from lodisc.index_format.layout import WORKING_DB
from lodisc.index_format.published import load_published
from tests.reliability.fault_helpers import build_fault_model, mount_small_disk
from training import pretrain
from training.engine import CHECKPOINT_NAME

NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"


@pytest.fixture()
def gallery(tiny_data: Path, tmp_path: Path) -> Path:
    """The 16 test images and 300 noise images: an index of a few hundred kilobytes."""
    target = tmp_path / "gallery"
    shutil.copytree(tiny_data / "test", target)
    write_noise_images(target / "noise", 300, seed=0)
    return target


@pytest.mark.parametrize("leave_kib", [0, 128])
def test_indexer_on_a_full_tmpfs(
    leave_kib: int, tmp_path_factory: pytest.TempPathFactory, gallery: Path, tmp_path: Path
) -> None:
    model = build_fault_model(tmp_path_factory)[1]
    with mount_small_disk(tmp_path / "disk", "2m") as disk:
        run = run_indexer_full_disk(disk, model, gallery, leave_kib * 1024)
    assert run.exit_code == 2 and NO_SPACE in run.message
    if leave_kib == 0:  # nothing fits: the working database is the first write
        assert str(disk / "index" / WORKING_DB) in run.message
    else:  # the database fits, the new generation does not
        assert f"cannot publish a new index in {disk / 'index'}" in run.message
    assert run.previous_unchanged and run.leftovers == []
    assert run.recovered  # with space again the same command publishes


@pytest.mark.slow
def test_checkpoint_on_a_full_tmpfs(tiny_data: Path, tmp_path: Path) -> None:
    with mount_small_disk(tmp_path / "disk", "8m") as disk:  # the tiny config's checkpoint is ~4 MB
        run = run_pretrain_full_disk(disk, tiny_data, leave_bytes=256 * 1024)
    checkpoint = tmp_path / "disk" / "run" / CHECKPOINT_NAME
    assert run.exit_code == 2
    assert run.message == f"error: cannot write checkpoint {checkpoint}: {NO_SPACE} " + (
        "(any previous checkpoint is unchanged)"
    )
    assert run.previous_unchanged and run.leftovers == [] and run.recovered


def _faiss_out_of_space(index: Any, path: str) -> None:
    """Half an index file, then FAISS's own report of a short write (its exact format)."""
    with open(path, "wb") as handle:
        handle.write(b"\0" * 4096)
    raise RuntimeError(
        "Error in void faiss::write_index(const Index*, IOWriter*, int) at "
        "/project/faiss/impl/index_write.cpp:499: Error: 'ret == (size * 4)' failed: write "
        f"error in {path}: 4096 != 8192 ({NO_SPACE})"
    )


def _manifest_out_of_space(target: str | Path, text: str) -> None:
    """The real atomic writer, whose write runs out of space halfway."""
    with atomic_path(target) as tmp:
        tmp.write_text(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, NO_SPACE, str(tmp))


@pytest.mark.parametrize("failing", ["index.faiss", "manifest.json"])
def test_indexer_publish_with_enospc_injected(
    failing: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_data: Path,
    tmp_path: Path,
) -> None:
    model = build_fault_model(tmp_path_factory)[1]
    gallery, out = tmp_path / "gallery", tmp_path / "index"
    shutil.copytree(tiny_data / "test", gallery)
    build_index(model, gallery, out, workers=0)
    published = {k: v for k, v in snapshot(out).items() if not k.startswith(WORKING_DB)}
    write_noise_images(gallery / "new", 2, seed=1)
    if failing == "index.faiss":
        monkeypatch.setattr(lodisc.index_format.vectors.faiss, "write_index", _faiss_out_of_space)
    else:  # the generation folder is complete and renamed: only the manifest switch fails
        monkeypatch.setattr(
            lodisc.index_format.manifest, "atomic_write_text", _manifest_out_of_space
        )
    argv = ["--model", str(model), "--gallery", str(gallery), "--out", str(out)]
    code, message = run_cli(build_index_cli.main, [*argv, "--workers", "0"])
    assert code == 2 and NO_SPACE in message and f"new index in {out} " in message
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(WORKING_DB)} == published
    assert temp_leftovers(out) == []
    assert load_published(out).index.count == 16


@pytest.mark.slow
def test_checkpoint_write_with_enospc_injected(
    monkeypatch: pytest.MonkeyPatch, tiny_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert run_cli(pretrain.main, [*pretrain_args(tiny_data, out, 1), "--max-steps", "1"])[0] == 0
    before = (out / CHECKPOINT_NAME).read_bytes()

    def save_out_of_space(obj: Any, handle: IO[bytes]) -> None:
        handle.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, NO_SPACE)

    monkeypatch.setattr(torch, "save", save_out_of_space)
    resume = [*pretrain_args(tiny_data, out, 1), "--resume", "--max-steps", "2"]
    code, message = run_cli(pretrain.main, resume)
    assert code == 2 and f"cannot write checkpoint {out / CHECKPOINT_NAME}: {NO_SPACE}" in message
    assert (out / CHECKPOINT_NAME).read_bytes() == before and temp_leftovers(out) == []
