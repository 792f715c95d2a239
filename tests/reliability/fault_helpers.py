"""Shared by the fault-injection tests: a random-init tiny model (checkpoint + ONNX) and a published
index of the synthetic test split, each built once per session, and a small tmpfs standing in for a
full disk (the test is skipped, with the reason, where mounting is not permitted)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from harness.fault_injection import TmpfsUnavailableError, export_tiny_model, tmpfs
from indexer.gallery_index import build_index


@functools.cache
def _model(base: Path) -> tuple[Path, Path]:
    return export_tiny_model(base / "fault-model")


@functools.cache
def _index(base: Path, gallery: Path) -> Path:
    out = base / "fault-index"
    build_index(_model(base)[1], gallery, out, index_kind="flat", workers=0)
    return out


def build_fault_model(factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint.pt, model.onnx) of the tests' tiny ViT, untrained (built once per session)."""
    return _model(factory.getbasetemp())


def build_fault_index(factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """A published index of the 16 test-split images, by :func:`build_fault_model`."""
    return _index(factory.getbasetemp(), tiny_data / "test")


@contextmanager
def mount_small_disk(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. "2m") mounted at ``mount_point`` for the block."""
    with ExitStack() as stack:
        try:
            disk = stack.enter_context(tmpfs(mount_point, size))
        except TmpfsUnavailableError as err:
            pytest.skip(f"no full-disk test on a real filesystem here: {err}")
        yield disk
