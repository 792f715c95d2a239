"""The answer says what the UI needs to draw: the patch grid and the region each image was seen in."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.responses import view_box

SPEC = {"img_size": 32, "resize": 32}


def test_view_box_is_the_centre_square_as_fractions() -> None:
    assert view_box(200, 100, SPEC) == pytest.approx([0.25, 0.0, 0.75, 1.0])
    assert view_box(100, 400, SPEC) == pytest.approx([0.0, 0.375, 1.0, 0.625])
    assert view_box(64, 64, SPEC) == pytest.approx([0.0, 0.0, 1.0, 1.0])


def test_explained_answers_carry_grid_and_crop_boxes(
    client: TestClient, gallery_files: list[Path]
) -> None:
    wide = Image.open(gallery_files[2]).convert("RGB").resize((96, 48))
    buffer = io.BytesIO()
    wide.save(buffer, "PNG")
    files = {"image": ("wide.png", buffer.getvalue(), "image/png")}
    body = client.post("/search", files=files, params={"k": 3, "explain": True}).json()
    assert tuple(body["grid"]) == client.app_state["slot"].current.encoder.grid_size
    assert body["query_crop_box"] == pytest.approx([0.25, 0.0, 0.75, 1.0])
    for hit in body["results"]:
        assert hit["crop_box"] == pytest.approx([0.0, 0.0, 1.0, 1.0])  # square gallery images
    plain = client.post("/search", files=files, params={"k": 3}).json()
    assert "grid" not in plain and "query_crop_box" not in plain
    assert all("crop_box" not in hit for hit in plain["results"])


def test_more_like_this_reports_the_grid(client: TestClient) -> None:
    body = client.get("/items/1/similar", params={"k": 2, "explain": True}).json()
    assert tuple(body["grid"]) == client.app_state["slot"].current.encoder.grid_size
    assert "query_crop_box" not in body
