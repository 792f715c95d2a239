"""Heatmaps drawn in the browser's pictures: the service's colour scale, its legend, and a hit's
match map (a rows x cols grid of values in [0, 1]) blended on the region of a picture it covers.

The colour anchors are a copy of ``service/overlay.py``'s (the UI imports no service code), so a
match map drawn here reads on the same scale as the overlays the service renders.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ui.drawing import view_box

# Inferno-like anchors, low (dark purple) to high (pale yellow), as in service/overlay.py.
COLORMAP_ANCHORS = ((0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164))
COLORMAP = np.stack(
    [
        np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(COLORMAP_ANCHORS)), channel)
        for channel in np.asarray(COLORMAP_ANCHORS, dtype=np.float32).T
    ],
    axis=1,
).astype(np.uint8)  # (256, 3)
OUTSIDE_DIM = 0.45  # brightness outside the region the model saw, as the service's overlays
LEGEND_SIZE = (240, 14)  # width, height of the colour bar in pixels
LEGEND_TEXT = 12  # pixels


def colorize(heat: np.ndarray) -> np.ndarray:
    """Values in [0, 1] of any shape (...,) as RGB colours (..., 3) uint8 on the service's scale."""
    return COLORMAP[np.clip(np.rint(heat * 255), 0, 255).astype(np.intp)]


def blend_heat(
    image: Image.Image,
    heat: Sequence[Sequence[float]],
    fractions: Sequence[float] | None,
    opacity: float,
) -> Image.Image:
    """A match map blended on the part of ``image`` the model saw.

    Args:
        image: the picture as shown (any size).
        heat: rows x cols values in [0, 1] (a hit's ``match_map`` or ``query_match_map``).
        fractions: the answer's crop box [left, top, right, bottom] as fractions of the picture's
            width and height (None: the whole picture).
        opacity: heat opacity in [0, 1].

    Returns:
        An RGB picture of ``image``'s size: the heat bilinearly upsampled over the crop box,
        the rest dimmed.
    """
    opacity = min(max(opacity, 0.0), 1.0)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)  # (H, W, 3)
    height, width = pixels.shape[:2]
    left, top, right, bottom = (int(round(v)) for v in view_box((width, height), fractions))
    left, top = min(max(left, 0), width - 1), min(max(top, 0), height - 1)
    right, bottom = min(max(right, left + 1), width), min(max(bottom, top + 1), height)
    grid = Image.fromarray(np.asarray(heat, dtype=np.float32))  # mode "F", (rows, cols)
    inside = np.asarray(grid.resize((right - left, bottom - top), Image.Resampling.BILINEAR))
    out = pixels * OUTSIDE_DIM
    region = pixels[top:bottom, left:right]
    colours = colorize(np.clip(inside, 0.0, 1.0)).astype(np.float32)  # (h, w, 3)
    out[top:bottom, left:right] = (1.0 - opacity) * region + opacity * colours
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def draw_legend(size: tuple[int, int] = LEGEND_SIZE) -> Image.Image:
    """The colour bar of the heatmaps, "low" under its left end and "high" under its right."""
    width, height = size
    bar = colorize(np.linspace(0.0, 1.0, width))  # (W, 3)
    strip = Image.fromarray(np.repeat(bar[None], height, axis=0))
    text_h = LEGEND_TEXT + 4
    legend = Image.new("RGB", (width, height + text_h), (255, 255, 255))
    legend.paste(strip, (0, 0))
    draw = ImageDraw.Draw(legend)
    font = ImageFont.load_default(size=LEGEND_TEXT)
    draw.text((0, height + 2), "low", fill=(40, 40, 40), font=font)
    draw.text((width, height + 2), "high", fill=(40, 40, 40), font=font, anchor="ra")
    return legend
