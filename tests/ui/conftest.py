"""A fake retrieval service patched into ``ui.client.ServiceClient``: no network, no model."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from ui.client import ServiceClient, ServiceError

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"
LABELS = ("sparrow", "finch", "wren")
GRID = 4  # patch grid of the fake model, reported in the answers as the service does
MATCHES = ("strong", "weak", "none")


def png_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    """A small PNG of one colour."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """A PNG as a data URI, as the service inlines overlays."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def heat_grid(rank: int) -> list[list[float]]:
    """A GRID x GRID match map in [0, 1], hottest in a different corner per rank."""
    return [
        [round(((r + c + rank) % (2 * GRID)) / (2 * GRID - 1), 3) for c in range(GRID)]
        for r in range(GRID)
    ]


def fake_answer(k: int, offset: int = 0) -> dict[str, Any]:
    """A /search answer with ``k`` explained hits (ranks from ``offset``) whose patches span the
    whole 4x4 grid, graded strong, weak, none in turn; the first is a duplicate."""
    results = [
        {
            "id": 100 + rank,
            "score": round(0.9 - 0.05 * rank, 3),
            "label": LABELS[rank % len(LABELS)],
            "image_url": f"/items/{100 + rank}/image",
            "overlay_url": f"/items/{100 + rank}/overlay",
            "crop_box": [0.0, 0.0, 1.0, 1.0],
            "match": MATCHES[rank % len(MATCHES)],
            "confidence": round(0.95 - 0.1 * rank, 3),
            "duplicate": rank == 0,
            "match_map": heat_grid(rank),
            "query_match_map": heat_grid(rank + 1),
            "correspondences": [
                {"query_patch": [0, 0], "hit_patch": [GRID - 1, GRID - 1], "score": 0.8},
                {"query_patch": [1, 2], "hit_patch": [2, 1], "score": 0.6},
            ],
        }
        for rank in range(offset, offset + k)
    ]
    return {
        "results": results,
        "query_overlay": data_uri(png_bytes((250, 200, 20))),
        "predicted_label": {"label": "sparrow", "confidence": 0.75},
        "grid": [GRID, GRID],
        "query_crop_box": [1 / 6, 0.0, 5 / 6, 1.0],
        "timings_ms": {"decode": 1.0, "embed": 5.0, "search": 0.5, "explain": 9.0},
        "model_version": "abc123def456",
        "index_version": {"generation": "gen-7", "built_at": "2026-11-26T10:00:00Z"},
    }


class FakeService:
    """Records every call (the box, label and offset of searches in ``options``); ``error`` (a
    ServiceError) makes every call raise it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.options: list[dict[str, Any]] = []  # box, label and offset of each search
        self.error: ServiceError | None = None
        self.total = 30
        self.ready: dict[str, Any] = {
            "status": "ready",
            "model_version": "abc123def456",
            "index_version": {"generation": "gen-7", "built_at": "2026-11-26T10:00:00Z"},
            "item_count": 30,
        }

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        if self.error is not None:
            raise self.error

    def search(
        self,
        image_bytes: bytes,
        filename: str,
        k: int,
        explain: bool = True,
        box: tuple | None = None,
        label: str | None = None,
        offset: int = 0,
        min_score: float | None = None,
    ) -> dict:
        self.options.append({"box": box, "label": label, "offset": offset, "min_score": min_score})
        self._record("search", filename, k, explain)
        return fake_answer(k, offset)

    def similar(
        self,
        item_id: int,
        k: int,
        explain: bool = True,
        label: str | None = None,
        offset: int = 0,
        min_score: float | None = None,
    ) -> dict:
        self.options.append({"box": None, "label": label, "offset": offset, "min_score": min_score})
        self._record("similar", item_id, k, explain)
        return fake_answer(k, offset)

    def labels(self) -> list[tuple[str, int]]:
        self._record("labels")
        return [(name, 10) for name in LABELS]

    def items(self, offset: int, limit: int, label: str | None = None) -> dict:
        self._record("items", offset, limit, label)
        ids = range(offset, min(offset + limit, self.total))
        items = [
            {
                "id": i,
                "label": LABELS[i % 3],
                "width": 48,
                "height": 32,
                "image_url": f"/items/{i}/image",
            }
            for i in ids
        ]
        # ServiceClient.items hands labels on as (label, count) pairs.
        return {"items": items, "total": self.total, "labels": [(name, 10) for name in LABELS]}

    def fetch(self, path: str) -> bytes:
        colour = (200, 30, 30) if path.endswith("overlay") else (30, 120, 200)
        return png_bytes(colour)

    def health(self) -> dict:
        self._record("health")
        return {"status": "ok"}

    def status(self) -> dict:
        self._record("status")
        return self.ready

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        """The calls of one kind, in order."""
        return [c for c in self.calls if c[0] == kind]


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> None:
    """Cached pictures and clients must not leak from one test into the next."""
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def fake_service(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    """Route every ServiceClient method that talks to the service to a FakeService."""
    fake = FakeService()
    for name in ("search", "similar", "labels", "items", "fetch", "health", "status"):
        monkeypatch.setattr(
            ServiceClient,
            name,
            lambda self, *args, _name=name, **kwargs: getattr(fake, _name)(*args, **kwargs),
        )
    return fake


def new_app() -> AppTest:
    """A fresh AppTest of ui/app.py, not yet run."""
    return AppTest.from_file(str(APP), default_timeout=10)


@pytest.fixture
def make_app() -> Callable[[], AppTest]:
    """Factory of fresh AppTests (for tests that set state before the first run)."""
    return new_app


@pytest.fixture
def app(fake_service: FakeService) -> AppTest:
    """The app after its first run (Search page, no query yet)."""
    at = new_app()
    at.run()
    assert not at.exception
    return at
