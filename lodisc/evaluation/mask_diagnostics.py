"""Mask diagnostics: does the teacher's kept set fall on the object and its class-defining parts?"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def patch_fractions(
    part_masks: torch.Tensor, grid: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-patch object coverage and part-pixel counts.

    Args:
        part_masks: (B, H, W) uint8 labels: 0 background, 1 body, >= 2 parts.
        grid: patch grid (rows, cols).

    Returns:
        object fraction per patch (B, N) and part pixels per patch (B, N).
    """
    masks = part_masks.unsqueeze(1)
    kernel = (masks.shape[2] // grid[0], masks.shape[3] // grid[1])
    obj = F.avg_pool2d((masks > 0).float(), kernel).flatten(1)
    parts = F.avg_pool2d((masks >= 2).float(), kernel).flatten(1) * (kernel[0] * kernel[1])
    return obj, parts


def mask_diagnostics(
    keep: torch.Tensor, part_masks: torch.Tensor, grid: tuple[int, int]
) -> dict[str, float]:
    """Precision of kept patches on the object and recall of part pixels, with random baselines.

    Args:
        keep: (B, N) bool kept patches.
        part_masks: (B, H, W) uint8 part labels at the model's input resolution.
        grid: patch grid.

    Returns:
        ``keep_precision`` (kept patches mostly on the object), ``object_base_rate`` (the same for
        a random choice), ``part_recall`` (part pixels inside kept patches) and ``part_recall_random``
        (the expected recall of a random choice of the same size).
    """
    obj_frac, part_pixels = patch_fractions(part_masks.to(keep.device), grid)
    on_object = obj_frac >= 0.5
    kept = keep.float()
    total_parts = part_pixels.sum().clamp_min(1.0)
    return {
        "keep_precision": float((kept * on_object).sum() / kept.sum().clamp_min(1.0)),
        "object_base_rate": float(on_object.float().mean()),
        "part_recall": float((part_pixels * kept).sum() / total_parts),
        "part_recall_random": float(kept.mean()),
    }
