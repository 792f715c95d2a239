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
    """The reference's evaluation (its ``validate``), step for step: per query, copy the gallery
    without the query (a boolean-mask gather), a matrix-vector product, a (similarity, label)
    table moved to numpy, a full argsort, and a Python loop over the relevant positions for AP."""
    feats = torch.nn.functional.normalize(torch.as_tensor(features, dtype=torch.float32), dim=1)
    target = torch.as_tensor(labels)
    count = len(labels)
    hits = np.zeros(len(ks))
    aps = []
    for q in range(count):
        others = torch.arange(count) != q
        gallery, gallery_labels = feats[others], target[others]
        table = torch.zeros(count - 1, 2)
        table[:, 0] = torch.mv(gallery, feats[q])
        table[:, 1] = gallery_labels
        ranked = table.numpy()[np.argsort(-table.numpy()[:, 0], kind="stable")]
        positions = np.where(ranked[:, 1] == float(target[q]))[0]
        if len(positions) == 0:
            continue
        for j, k in enumerate(ks):
            hits[j] += bool((ranked[:k, 1] == float(target[q])).any())
        precision_sum = 0.0
        for found, position in enumerate(positions, start=1):
            precision_sum += found / (position + 1)
        aps.append(precision_sum / len(positions))
    result = {f"recall@{k}": hits[j] / len(aps) for j, k in enumerate(ks)}
    result["mAP"] = float(np.mean(aps))
    return result
