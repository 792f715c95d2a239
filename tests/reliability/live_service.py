"""The live-server fixture of the service-side reliability tests: a real uvicorn process serving
the service tests' tiny random-init ONNX model and an index of the synthetic train split.

A test module imports ``live_server_fixture`` (pytest finds fixtures among a module's attributes;
the fixture is named ``live_server``). It lives here rather than in ``conftest.py``, which the
fault-injection tests own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.live_server import LiveServer, run_server
from indexer.gallery_index import build_index
from lodisc.config import EncoderConfig
from tests.service.conftest import API_KEY, export_model

__all__ = ["API_KEY", "gallery_images", "live_server_fixture", "serve_tiny_model"]


def gallery_images(tiny_data: Path) -> list[Path]:
    """The indexed images, in a stable order."""
    return sorted((tiny_data / "train").rglob("*.png"))


@contextmanager
def serve_tiny_model(
    cfg: EncoderConfig, tiny_data: Path, work: Path, env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """Export a random-init ``cfg`` model, index the train split and serve both with uvicorn."""
    model = export_model(cfg, work / "model.onnx")
    build_index(
        model, tiny_data / "train", work / "index", index_kind="flat", device="cpu", workers=0
    )
    with run_server(
        model, work / "index", work, {"LODISC_API_KEY": API_KEY, **(env or {})}
    ) as server:
        yield server


@pytest.fixture(scope="module", name="live_server")
def live_server_fixture(
    tiny_encoder_cfg: EncoderConfig, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``uvicorn service.main:app`` with default settings plus an admin key (``API_KEY``)."""
    work = tmp_path_factory.mktemp("live-service")
    with serve_tiny_model(tiny_encoder_cfg, tiny_data, work) as server:
        yield server
