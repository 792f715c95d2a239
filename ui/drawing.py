"""Client-side pictures: thumbnails, overlay blending and the patch-correspondence canvas (PIL only).

Patch coordinates are [row, col] on the model's patch grid, which covers the model's centre crop:
the central square of the image's shorter side when the model resizes that side straight to its
input size (``resize_crop_pct`` 1.0, the default of ``lodisc.config.EncoderConfig``).
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

Grid = tuple[int, int]
Box = tuple[float, float, float, float]

PAIR_COLOURS = [
    (0, 200, 255),
    (255, 80, 80),
    (80, 230, 80),
    (255, 200, 0),
    (220, 90, 255),
    (255, 140, 40),
    (40, 255, 200),
    (255, 255, 255),
]
LINE_WIDTH = 3
LABEL_SIZE = 16  # pair numbers, in pixels
CANVAS_GAP = 24  # pixels between the two images, so lines stay visible


class ImageDecodeError(ValueError):
    """Bytes that are not an image PIL can read."""


def decode_data_uri(uri: str) -> bytes:
    """The payload of a ``data:...;base64,...`` URI."""
    header, _, payload = uri.partition(",")
    if not header.startswith("data:") or ";base64" not in header:
        raise ImageDecodeError("not a base64 data URI")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ImageDecodeError(f"bad base64 payload: {err}") from err


def open_rgb(data: bytes) -> Image.Image:
    """Decode image bytes as upright RGB (EXIF orientation applied, as the service does)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise ImageDecodeError(f"cannot read the image: {err}") from err
    return ImageOps.exif_transpose(image).convert("RGB")


def make_thumbnail(image: Image.Image, side: int) -> Image.Image:
    """A copy whose longer side is ``side`` pixels (small images grow), aspect ratio kept."""
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS) if size != image.size else image.copy()


def blend_overlay(image: Image.Image, overlay: Image.Image, opacity: float) -> Image.Image:
    """``overlay`` (same aspect ratio, any size) over ``image`` at ``opacity`` in [0, 1]."""
    opacity = min(max(opacity, 0.0), 1.0)
    top = overlay.convert("RGB").resize(image.size, Image.Resampling.BILINEAR)
    return Image.blend(image.convert("RGB"), top, opacity)


def infer_grid(response: dict[str, Any]) -> Grid | None:
    """The patch grid (rows, cols) of a search answer: from the answer, else inferred.

    Inference takes a square grid just large enough for every patch index in the answer, so it
    can come out small when the matched patches all avoid the last rows and columns.

    Returns:
        None when the answer has neither a grid nor any correspondences.
    """
    for key in ("grid", "grid_size", "patch_grid"):
        if response.get(key):
            rows, cols = response[key]
            return int(rows), int(cols)
    largest = -1
    for hit in response.get("results", []):
        for pair in hit.get("correspondences") or []:
            largest = max(largest, *pair["query_patch"], *pair["hit_patch"])
    return (largest + 1, largest + 1) if largest >= 0 else None


def model_view_box(size: tuple[int, int], crop_fraction: float = 1.0) -> Box:
    """The region of a (width, height) image the model sees: a centred square.

    Args:
        size: image (width, height) in pixels.
        crop_fraction: crop side over the shorter side (the model's ``resize_crop_pct``).
    """
    width, height = size
    side = min(width, height) * crop_fraction
    left, top = (width - side) / 2.0, (height - side) / 2.0
    return left, top, left + side, top + side


def patch_box(patch: Sequence[int], grid: Grid, view: Box) -> Box:
    """Pixel box of grid cell [row, col] inside the model's view box."""
    row, col = patch
    rows, cols = grid
    left, top, right, bottom = view
    cell_w, cell_h = (right - left) / cols, (bottom - top) / rows
    x0, y0 = left + col * cell_w, top + row * cell_h
    return x0, y0, x0 + cell_w, y0 + cell_h


def _centre(box: Box) -> tuple[float, float]:
    """Centre point of a box."""
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def _scaled_to_height(image: Image.Image, height: int) -> Image.Image:
    """``image`` resized to ``height`` pixels high."""
    width = max(1, round(image.width * height / image.height))
    return image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)


def draw_correspondences(
    query: Image.Image,
    hit: Image.Image,
    pairs: Iterable[dict[str, Any]],
    grid: Grid,
    height: int = 360,
    crop_fraction: float = 1.0,
) -> Image.Image:
    """Query and hit side by side, each matched patch boxed and joined by a line to its match.

    Args:
        query: the query picture (plain or with its overlay).
        hit: the hit picture (plain or with its overlay).
        pairs: ``correspondences`` of the hit: {query_patch: [r, c], hit_patch: [r, c], score}.
        grid: patch grid (rows, cols) of the model.
        height: height of the canvas in pixels.
        crop_fraction: see :func:`model_view_box`.

    Returns:
        An RGB canvas, numbered pairs in the order given (the most pivotal query patch first).
    """
    left_img, right_img = _scaled_to_height(query, height), _scaled_to_height(hit, height)
    offset = left_img.width + CANVAS_GAP
    canvas = Image.new("RGB", (offset + right_img.width, height), (24, 24, 24))
    canvas.paste(left_img, (0, 0))
    canvas.paste(right_img, (offset, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=LABEL_SIZE)
    query_view = model_view_box(left_img.size, crop_fraction)
    hit_view = model_view_box(right_img.size, crop_fraction)
    for number, pair in enumerate(pairs, start=1):
        colour = PAIR_COLOURS[(number - 1) % len(PAIR_COLOURS)]
        q_box = patch_box(pair["query_patch"], grid, query_view)
        x0, y0, x1, y1 = patch_box(pair["hit_patch"], grid, hit_view)
        h_box = (x0 + offset, y0, x1 + offset, y1)
        for box in (q_box, h_box):
            draw.rectangle(box, outline=colour, width=LINE_WIDTH)
        draw.line([_centre(q_box), _centre(h_box)], fill=colour, width=LINE_WIDTH)
        draw.text(
            (q_box[0] + 4, q_box[1] + 2),
            str(number),
            fill=colour,
            font=font,
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return canvas
