"""Pivotal patches at inference (numpy): the LoDisc fused CLS attention, as training ranks them.

The pivotal score of a patch is the product over layers of the CLS attention it receives
(METHOD.md steps 3-4), computed as a sum of logs; :func:`lodisc.method.masking.fuse_attention` is
the same rule on torch tensors for training, and a test holds the two equal.
"""

from __future__ import annotations

import numpy as np

TINY = np.finfo(np.float32).tiny


def pivotal_scores(cls_attention: np.ndarray) -> np.ndarray:
    """Fuse CLS attention rows by product over layers, as a sum of logs: (..., L, N) -> (..., N)."""
    rows = np.maximum(np.asarray(cls_attention, dtype=np.float32), TINY)
    return np.log(rows).sum(axis=-2)


def pivotal_map(cls_attention: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The (rows, cols) pivotal-region map of one image in [0, 1] (min-max of the log scores).

    Args:
        cls_attention: (L, N) head-averaged CLS attention rows per layer.
        grid: patch grid (rows, cols), rows * cols = N.
    """
    scores = pivotal_scores(cls_attention)  # (N,)
    low, high = float(scores.min()), float(scores.max())
    heat = (scores - low) / (high - low) if high > low else np.zeros_like(scores)
    return heat.reshape(grid).astype(np.float32)


def top_pivotal(cls_attention: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` most pivotal patches of each image, most pivotal first.

    Args:
        cls_attention: (B, L, N) head-averaged CLS attention rows per layer.
        count: patches per image (at most N).

    Returns:
        (B, count) int64 patch indices.
    """
    scores = pivotal_scores(cls_attention)  # (B, N)
    return np.argsort(-scores, axis=1, kind="stable")[:, :count].astype(np.int64)


def select_pivotal_tokens(
    cls_attention: np.ndarray, patch_tokens: np.ndarray, count: int
) -> np.ndarray:
    """The ``count`` most pivotal patch tokens of each image, L2-normalised, most pivotal first.

    Args:
        cls_attention: (B, L, N) head-averaged CLS attention rows per layer.
        patch_tokens: (B, N, D) patch tokens.
        count: tokens kept per image.

    Returns:
        (B, count, D) float32.
    """
    order = top_pivotal(cls_attention, count)  # (B, T)
    kept = np.take_along_axis(np.asarray(patch_tokens, np.float32), order[..., None], axis=1)
    return kept / np.maximum(np.linalg.norm(kept, axis=-1, keepdims=True), 1e-12)
