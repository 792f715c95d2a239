"""Client-side pictures: thumbnails, overlay blending and the patch-correspondence canvas (PIL only).

Patch coordinates are [row, col] on the model's patch grid (the answer's ``grid``), which covers the
region of each image the model saw (the answer's ``query_crop_box`` and each hit's ``crop_box``):
the UI draws what the service reports and derives nothing from the model.
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
REGION_DIM = 0.55  # how much the box preview darkens what lies outside the box


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


def answer_grid(response: dict[str, Any]) -> Grid | None:
    """The patch grid (rows, cols) an explained search answer reports (None when unexplained)."""
    grid = response.get("grid")
    return (int(grid[0]), int(grid[1])) if grid else None


def view_box(size: tuple[int, int], fractions: Sequence[float] | None) -> Box:
    """The region of a shown (width, height) picture the model saw, from the answer's crop box
    (fractions of width and height); the whole picture when the answer gives none."""
    width, height = size
    left, top, right, bottom = fractions if fractions else (0.0, 0.0, 1.0, 1.0)
    return left * width, top * height, right * width, bottom * height


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
    crop_boxes: tuple[Sequence[float] | None, Sequence[float] | None] = (None, None),
    height: int = 360,
) -> Image.Image:
    """Query and hit side by side, each matched patch boxed and joined by a line to its match.

    Args:
        query: the query picture (plain or with its overlay).
        hit: the hit picture (plain or with its overlay).
        pairs: ``correspondences`` of the hit: {query_patch: [r, c], hit_patch: [r, c], score}.
        grid: patch grid (rows, cols) of the model.
        crop_boxes: the answer's ``query_crop_box`` and the hit's ``crop_box`` (see
            :func:`view_box`).
        height: height of the canvas in pixels.

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
    query_view = view_box(left_img.size, crop_boxes[0])
    hit_view = view_box(right_img.size, crop_boxes[1])
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


def draw_region(
    picture: Image.Image,
    box: Box,
    source_size: tuple[int, int],
    colour: tuple[int, int, int] = (0, 200, 255),
) -> Image.Image:
    """A copy of ``picture`` with ``box`` (x0, y0, x1, y1 in pixels of the ``source_size``
    (width, height) image it shows) outlined and the outside dimmed: the box tool's preview."""
    scale_x, scale_y = picture.width / source_size[0], picture.height / source_size[1]
    x0, y0, x1, y1 = box
    shown = (x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y)
    dimmed = Image.blend(picture.convert("RGB"), Image.new("RGB", picture.size), REGION_DIM)
    crop = tuple(int(round(v)) for v in shown)
    dimmed.paste(picture.convert("RGB").crop(crop), crop[:2])
    ImageDraw.Draw(dimmed).rectangle(shown, outline=colour, width=LINE_WIDTH)
    return dimmed
