"""Pivotal-patch masks from the teacher's fused CLS attention (METHOD.md steps 3-4), vectorised."""

from __future__ import annotations

import torch


def fuse_attention(cls_attention: torch.Tensor, layers: list[int] | None = None) -> torch.Tensor:
    """Fuse per-layer CLS rows by element-wise product, computed as a sum of logs.

    Args:
        cls_attention: (B, L, N) head-averaged CLS attention rows per layer.
        layers: indices of the layers to fuse (``None``: all).

    Returns:
        (B, N) float32 scores; ranking them ranks ``prod_l a_l`` without bf16 underflow.
    """
    rows = cls_attention if layers is None else cls_attention[:, layers]
    tiny = torch.finfo(torch.float32).tiny
    return rows.float().clamp_min(tiny).log().sum(dim=1)


def pivotal_keep_mask(
    cls_rows: list[torch.Tensor], keep_ratio: float, layers: list[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The LoDisc mask recipe from recorded teacher rows: fuse, then keep the top ``keep_ratio``.

    Args:
        cls_rows: L tensors (B, N), the head-averaged CLS attention rows of each layer.
        keep_ratio: fraction of patches kept.
        layers: layers fused (``None``: all).

    Returns:
        (B, N) float32 scores and the (B, N) bool mask of kept patches.
    """
    scores = fuse_attention(torch.stack(cls_rows, dim=1), layers)  # (B, N)
    return scores, keep_mask(scores, keep_ratio)


def num_kept(num_patches: int, keep_ratio: float) -> int:
    """Patches kept per image: the reference thresholds at sorted position ``int(ratio * N)``."""
    if not 0.0 < keep_ratio < 1.0:
        raise ValueError(f"keep_ratio must be in (0, 1), got {keep_ratio}")
    return max(1, int(keep_ratio * num_patches))


def keep_mask(scores: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """Reference rule: keep patches scoring strictly above the value at sorted position k.

    Args:
        scores: (B, N) patch scores.
        keep_ratio: fraction of patches to keep (0.30 in the reference: 58 of 196).

    Returns:
        (B, N) bool mask of kept patches.
    """
    k = num_kept(scores.shape[1], keep_ratio)
    threshold = scores.sort(dim=1, descending=True).values[:, k : k + 1]  # (B, 1)
    return scores > threshold


def keep_indices(scores: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """Indices (B, K) of the top-K patches, for token dropping (equal K for every image)."""
    k = num_kept(scores.shape[1], keep_ratio)
    return scores.topk(k, dim=1, sorted=False).indices


def pixel_mask(keep: torch.Tensor, grid: tuple[int, int], patch: tuple[int, int]) -> torch.Tensor:
    """Expand a (B, N) patch mask to a (B, 1, H, W) float pixel mask (nearest, no loops)."""
    batch = keep.shape[0]
    mask = keep.view(batch, 1, grid[0], grid[1]).float()
    return mask.repeat_interleave(patch[0], dim=2).repeat_interleave(patch[1], dim=3)


def apply_pixel_mask(
    images: torch.Tensor, keep: torch.Tensor, grid: tuple[int, int]
) -> torch.Tensor:
    """Zero dropped patches in normalised space (the ImageNet mean colour), as the reference does."""
    patch = (images.shape[2] // grid[0], images.shape[3] // grid[1])
    return images * pixel_mask(keep, grid, patch).to(images.dtype)
