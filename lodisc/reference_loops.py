"""Slow loop versions of the reference code's mask and retrieval metrics.

Used only by tests and ``bench/mask_eval.py`` to check the vectorised versions for equality and to
measure the speed-up; never on a hot path.
"""

from __future__ import annotations

import numpy as np
import torch


def loop_pixel_mask(scores: torch.Tensor, keep_ratio: float, grid: int, patch: int) -> torch.Tensor:
    """The reference's triple loop (batch x patches x pixels) with per-element host syncs."""
    batch, num = scores.shape
    k = int(keep_ratio * num)
    mask = torch.zeros(batch, 1, grid * patch, grid * patch)
    for b in range(batch):
        threshold = scores[b].sort(descending=True).values[k].item()
        for n in range(num):
            if scores[b, n].item() > threshold:
                row, col = divmod(n, grid)
                for i in range(patch):
                    for j in range(patch):
                        mask[b, 0, row * patch + i, col * patch + j] = 1.0
    return mask


def loop_retrieval(
    features: np.ndarray, labels: np.ndarray, ks: tuple[int, ...]
) -> dict[str, float]:
    """The reference's evaluation: per query a matrix-vector product, an argsort, and a Python
    walk down the ranking for AP (O(N^2 log N) plus N^2 interpreter steps)."""
    feats = features / np.linalg.norm(features, axis=1, keepdims=True)
    count = len(labels)
    hits = np.zeros(len(ks))
    aps = []
    for q in range(count):
        sim = feats @ feats[q]
        sim[q] = -np.inf
        order = np.argsort(-sim, kind="stable")[: count - 1]
        relevant = labels[order] == labels[q]
        if not relevant.any():
            continue
        for j, k in enumerate(ks):
            hits[j] += relevant[:k].any()
        found, precision_sum = 0, 0.0
        for position, is_relevant in enumerate(relevant, start=1):
            if is_relevant:
                found += 1
                precision_sum += found / position
        aps.append(precision_sum / found)
    result = {f"recall@{k}": hits[j] / len(aps) for j, k in enumerate(ks)}
    result["mAP"] = float(np.mean(aps))
    return result
