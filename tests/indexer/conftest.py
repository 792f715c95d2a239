"""Indexer fixtures: an exported tiny ONNX model and a copy of the synthetic gallery per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from training import export_onnx


@pytest.fixture(scope="session")
def tiny_onnx(tiny_run: Path) -> Path:
    path = tiny_run / "indexer-model.onnx"
    if not path.exists():
        assert (
            export_onnx.main(["--checkpoint", str(tiny_run / "checkpoint.pt"), "--out", str(path)])
            == 0
        )
    return path


@pytest.fixture()
def gallery(tiny_data: Path, tmp_path: Path) -> Path:
    target = tmp_path / "gallery"
    shutil.copytree(tiny_data / "test", target)
    return target
