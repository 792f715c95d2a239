"""Search by a region: ``/search?box=x0,y0,x1,y1`` in pixels of the uploaded image."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from harness.trust_study import image_paths, region_rates
from service.images import ImageInputError, crop_to_box, decode_image, source_size


def _jpeg(image: Image.Image, orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def test_a_box_refers_to_the_upload_pixels_even_when_decoding_reduced_it() -> None:
    picture = np.zeros((1600, 2400, 3), dtype=np.uint8)
    picture[400:800, 1200:1800] = (250, 20, 20)  # a red block, x 1200-1800, y 400-800
    decoded = decode_image(_jpeg(Image.fromarray(picture)), 40_000_000, short_side=64)
    assert decoded.width < 2400 and source_size(decoded) == (2400, 1600)
    region = np.asarray(crop_to_box(decoded, (1200, 400, 1800, 800)), dtype=np.float32)
    assert region.mean(axis=(0, 1))[0] > 200 and region.mean(axis=(0, 1))[1] < 60


def test_boxes_follow_exif_orientation() -> None:
    picture = np.zeros((100, 200, 3), dtype=np.uint8)
    picture[:, :100] = (250, 250, 250)  # left half white as stored
    decoded = decode_image(_jpeg(Image.fromarray(picture), orientation=6), 40_000_000)
    assert source_size(decoded) == (100, 200)  # displayed rotated: 100 wide, 200 tall
    top = np.asarray(crop_to_box(decoded, (0, 0, 100, 100)), dtype=np.float32).mean()
    bottom = np.asarray(crop_to_box(decoded, (0, 100, 100, 200)), dtype=np.float32).mean()
    assert top > 200 > 50 > bottom  # stored left half is the displayed top


def test_boxes_outside_the_image_or_malformed_are_clear_errors(
    client: TestClient, gallery_files: list[Path]
) -> None:
    image = Image.new("RGB", (10, 10))
    with pytest.raises(ImageInputError, match="0 <= x0 < x1 <= 10"):
        crop_to_box(image, (5, 0, 11, 5))
    files = {"image": ("q.png", gallery_files[0].read_bytes(), "image/png")}
    outside = client.post("/search", files=files, params={"box": "0,0,999,10"})
    assert outside.status_code == 400 and "box" in outside.json()["detail"]
    for bad in ("1,2,3", "a,b,c,d", "-1,0,5,5", "1,2,3,4,5"):
        assert client.post("/search", files=files, params={"box": bad}).status_code == 422
    inside = client.post("/search", files=files, params={"box": "4,4,28,28", "k": 2})
    assert inside.status_code == 200 and len(inside.json()["results"]) == 2


def test_a_box_around_a_small_object_ranks_better_than_the_whole_image(
    demo_onnx: Path, demo_data: Path
) -> None:
    random.seed(0)
    rates = region_rates(
        demo_onnx, demo_data / "test", random.sample(image_paths(demo_data / "train"), 30)
    )
    print(rates)
    assert rates.box_top1 >= rates.whole_image_top1 + 0.3
