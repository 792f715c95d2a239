"""Explanations: the LoDisc pivotal-region heatmap blended on an image, and patch correspondences.

The heatmap is the pivotal-region map of :mod:`lodisc.inference.pivotal`.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from lodisc.index_format.vectors import normalise
from lodisc.inference.image_preprocess import crop_box

OUTSIDE_DIM = 0.45  # brightness of the parts of the image the model's centre crop never saw
# Inferno-like colour anchors (dark purple -> yellow), interpolated into a 256-entry table.
_ANCHORS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32
)
COLORMAP = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), c) for c in _ANCHORS.T],
    axis=1,
).astype(np.uint8)  # (256, 3)


@dataclass(frozen=True)
class Correspondence:
    """A query patch and its most similar patch in a hit, as (row, col) grid positions."""

    query_patch: tuple[int, int]
    hit_patch: tuple[int, int]
    score: float


def colorize(heat: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 colours."""
    return COLORMAP[np.clip(np.rint(heat * 255), 0, 255).astype(np.intp)]


def heat_canvas(heat: np.ndarray, size: tuple[int, int], spec: dict[str, Any]) -> np.ndarray:
    """Upsample a (rows, cols) map onto the model's crop region of a (width, height) image.

    Returns:
        (H, W) float32, the bilinear-upsampled map inside the crop box and -1 outside it.
    """
    width, height = size
    left, top, right, bottom = (int(round(v)) for v in crop_box(width, height, spec))
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(max(right, left + 1), width), min(max(bottom, top + 1), height)
    patch = Image.fromarray(heat.astype(np.float32), mode="F")
    inside = np.asarray(patch.resize((right - left, bottom - top), Image.Resampling.BILINEAR))
    canvas = np.full((height, width), -1.0, dtype=np.float32)
    canvas[top:bottom, left:right] = np.clip(inside, 0.0, 1.0)
    return canvas


def render_overlay(
    image: Image.Image, heat: np.ndarray, spec: dict[str, Any], alpha: float, max_side: int
) -> Image.Image:
    """Blend a pivotal-region map on an image (scaled down to ``max_side`` when larger).

    Args:
        image: the original RGB image.
        heat: (rows, cols) map in [0, 1] from :func:`pivotal_map`.
        spec: the model's preprocessing dict (where its centre crop lies).
        alpha: heatmap opacity.
        max_side: longest side of the result in pixels.

    Returns:
        An RGB image of the original's aspect ratio; outside the model's crop it is dimmed.
    """
    scale = min(1.0, max_side / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    canvas = heat_canvas(heat, image.size, spec)  # (H, W)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)  # (H, W, 3)
    colours = colorize(np.maximum(canvas, 0.0)).astype(np.float32)
    blended = (1.0 - alpha) * pixels + alpha * colours
    out = np.where((canvas >= 0.0)[..., None], blended, OUTSIDE_DIM * pixels)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of an image (fast compression: overlays are made per request)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for inline use."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def find_correspondences(
    query_patches: np.ndarray,
    query_heat: np.ndarray,
    hit_patches: np.ndarray,
    top: int,
) -> list[Correspondence]:
    """For the query's ``top`` most pivotal patches, the most similar hit patch (cosine).

    Args:
        query_patches: (N, D) query patch tokens.
        query_heat: (rows, cols) query pivotal-region map (ranks the query patches).
        hit_patches: (N, D) hit patch tokens.
        top: number of query patches.

    Returns:
        Up to ``top`` pairs, most pivotal query patch first.
    """
    cols = query_heat.shape[1]
    order = np.argsort(-query_heat.ravel(), kind="stable")[:top]  # (T,)
    queries = normalise(query_patches[order])  # (T, D)
    similarity = queries @ normalise(hit_patches).T  # (T, N)
    best = similarity.argmax(axis=1)  # (T,)
    scores = similarity[np.arange(len(order)), best]
    return [
        Correspondence((int(q) // cols, int(q) % cols), (int(h) // cols, int(h) % cols), float(s))
        for q, h, s in zip(order, best, scores, strict=True)
    ]
