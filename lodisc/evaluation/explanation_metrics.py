"""Are explanations faithful? Part contrast on synthetic images and the deletion test (numpy).

- Part contrast: the synthetic generator's part masks say which parts a query and a hit share;
  a faithful match map puts more heat on the shared parts than on the parts that differ.
- Deletion: blank the hit's patches in the order a map ranks them (most heat first) and watch its
  similarity to the query fall; the faster it falls (the smaller the area under the curve) the
  more the map names what the similarity rests on. Random orders are the baseline.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EMBED_CHUNK = 16  # blanked copies encoded per call
DELETION_POINTS = 17  # similarities measured per deletion curve (a 4 x 4 grid: every count)


def patch_coverage(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Share of each patch's pixels where ``mask`` is true: (H, W) bool -> (rows, cols) float32.

    The grid must divide the mask (the model's crop of a square synthetic image)."""
    rows, cols = grid
    height, width = mask.shape
    cells = mask.reshape(rows, height // rows, cols, width // cols)
    return cells.mean(axis=(1, 3)).astype(np.float32)


def heat_on(heat: np.ndarray, coverage: np.ndarray) -> float:
    """Coverage-weighted mean heat of a (rows, cols) map over a region (NaN for an empty one)."""
    total = float(coverage.sum())
    return float((heat * coverage).sum() / total) if total > 0 else float("nan")


def blank_patches(
    image: np.ndarray, order: np.ndarray, grid: tuple[int, int], steps: np.ndarray
) -> np.ndarray:
    """Copies of one normalised image with its first ``steps[i]`` patches of ``order`` set to 0
    (the mean colour in normalised space, as LoDisc's masks do).

    Args:
        image: (3, S, S) float32 normalised image.
        order: (N,) patch indices, first removed first.
        grid: (rows, cols) patch grid over the image.
        steps: (T,) numbers of patches removed.

    Returns:
        (T, 3, S, S) float32.
    """
    rows, cols = grid
    rank = np.empty(rows * cols, dtype=np.int64)
    rank[order] = np.arange(len(order))
    removed = rank[None, :] < steps[:, None]  # (T, N)
    side = image.shape[-1]
    keep = ~removed.reshape(-1, rows, 1, cols, 1)
    keep = np.broadcast_to(keep, (len(steps), rows, side // rows, cols, side // cols))
    pixels_kept = keep.reshape(len(steps), 1, side, side)
    return np.where(pixels_kept, image[None], 0.0).astype(np.float32)


def deletion_curve(
    embed: Callable[[np.ndarray], np.ndarray],
    query_embedding: np.ndarray,
    hit_image: np.ndarray,
    order: np.ndarray,
    grid: tuple[int, int],
    points: int = DELETION_POINTS,
) -> np.ndarray:
    """Cosine of the query to the hit as its patches are blanked in ``order``, at ``points``
    evenly spaced counts from none to all (every count when the grid has fewer patches).

    Args:
        embed: (T, 3, S, S) -> (T, D) L2-normalised embeddings.
        query_embedding: (D,) L2-normalised.
        hit_image: (3, S, S) normalised hit image.
        order: (N,) patch indices, most important first.
        grid: (rows, cols).

    Returns:
        (S,) similarities after removing 0..N patches (S = min(N + 1, points)).
    """
    count = len(order)
    steps = np.unique(np.round(np.linspace(0, count, min(count + 1, points))).astype(np.int64))
    chunks = [
        embed(blank_patches(hit_image, order, grid, steps[start : start + EMBED_CHUNK]))
        for start in range(0, len(steps), EMBED_CHUNK)
    ]  # a 14 x 14 grid makes 197 images: chunks keep the encoder's activations small
    return np.concatenate(chunks) @ query_embedding


def area_under(curve: np.ndarray) -> float:
    """Mean of a deletion curve over its x range [0, 1] (trapezoids): lower is more faithful."""
    return float(np.trapezoid(curve, dx=1.0 / max(1, len(curve) - 1)))
