"""PIL helpers of the UI: grid inference, patch boxes, overlay blending, correspondence canvas."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from ui.drawing import (
    CANVAS_GAP,
    PAIR_COLOURS,
    ImageDecodeError,
    answer_grid,
    blend_overlay,
    decode_data_uri,
    draw_correspondences,
    draw_region,
    open_rgb,
    patch_box,
    view_box,
)


def test_the_grid_comes_from_the_answer_only():
    assert answer_grid({"grid": [14, 14], "results": []}) == (14, 14)
    pairs = [{"query_patch": [0, 5], "hit_patch": [2, 1], "score": 0.5}]
    assert answer_grid({"results": [{"correspondences": pairs}]}) is None


def test_view_box_scales_the_answer_crop_box_to_the_shown_picture():
    assert view_box((200, 100), [0.25, 0.0, 0.75, 1.0]) == (50.0, 0.0, 150.0, 100.0)
    assert view_box((100, 300), None) == (0.0, 0.0, 100.0, 300.0)
    assert patch_box([1, 3], (4, 4), (50.0, 0.0, 150.0, 100.0)) == (125.0, 25.0, 150.0, 50.0)


def test_blend_overlay_opacity_ends():
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    overlay = Image.new("RGB", (80, 40), (200, 100, 50))
    assert blend_overlay(image, overlay, 0.0).getpixel((5, 5)) == (0, 0, 0)
    assert blend_overlay(image, overlay, 1.0).getpixel((5, 5)) == (200, 100, 50)
    assert blend_overlay(image, overlay, 0.5).size == (40, 20)


def test_correspondence_canvas_boxes_matched_patches():
    query = Image.new("RGB", (100, 100), (0, 0, 0))
    hit = Image.new("RGB", (200, 100), (0, 0, 0))
    pairs = [{"query_patch": [0, 0], "hit_patch": [3, 3], "score": 0.9}]
    boxes = (None, [0.25, 0.0, 0.75, 1.0])  # the hit's centre square, as the service reports it
    canvas = draw_correspondences(query, hit, pairs, (4, 4), boxes, height=100)
    assert canvas.size == (100 + CANVAS_GAP + 200, 100)
    colour = PAIR_COLOURS[0]
    assert canvas.getpixel((1, 12)) == colour  # left edge of query patch (0, 0)
    hit_left = 100 + CANVAS_GAP + 50  # the hit's centre square starts 50 px in
    assert canvas.getpixel((hit_left + 75 + 1, 90)) == colour  # left edge of hit patch (3, 3)
    assert canvas.getpixel((hit_left - 20, 50)) == (0, 0, 0)  # outside the model's view


def test_data_uri_round_trip_and_errors():
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (1, 2, 3)).save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert open_rgb(decode_data_uri(uri)).getpixel((0, 0)) == (1, 2, 3)
    with pytest.raises(ImageDecodeError):
        decode_data_uri("/items/1/overlay")
    with pytest.raises(ImageDecodeError):
        open_rgb(b"not an image")


def test_region_preview_outlines_the_box_in_source_pixels():
    picture = Image.new("RGB", (100, 50), (200, 200, 200))  # a half-size view of 200 x 100
    preview = draw_region(picture, (40, 20, 120, 80), (200, 100))
    assert preview.size == picture.size
    assert preview.getpixel((30, 25)) == (200, 200, 200)  # inside the box (20..60, 10..40)
    assert preview.getpixel((5, 5)) != (200, 200, 200)  # outside: darkened
    assert preview.getpixel((40, 10)) == (0, 200, 255)  # on the outline
