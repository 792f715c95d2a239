"""Batch embedding of an image list with the eval transform (one implementation for all apps)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from lodisc.data.image_folders import ImageFolderDataset, ImageList


def make_eval_loader(
    images: ImageList, transform: Callable, batch_size: int, workers: int
) -> DataLoader:
    """Ordered loader of (tensor, label) pairs with parallel decode workers."""
    dataset = ImageFolderDataset(images, transform)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        persistent_workers=False,
    )


@torch.no_grad()
def embed_batch(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    device: torch.device,
    amp: bool = True,
) -> torch.Tensor:
    """One batch through ``model`` on ``device`` (bf16 autocast on CUDA when ``amp``).

    Args:
        model: maps (B, 3, H, W) -> (B, D).
        images: (B, 3, H, W) float32 normalised images, on any device.

    Returns:
        (B, D) float32 features on the CPU.
    """
    use_amp = amp and device.type == "cuda"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
        out = model(images.to(device, non_blocking=True))
    return out.float().cpu()


@torch.no_grad()
def embed_images(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    loader: DataLoader,
    device: torch.device,
    amp: bool = True,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over a loader.

    Args:
        model: maps (B, 3, H, W) -> (B, D) (an ``Encoder`` for embeddings, ``Encoder.forward_cls``
            for frozen CLS features).
        loader: yields (images, labels).
        device: where to run; bf16 autocast on CUDA when ``amp``.
        progress: show a tqdm bar.

    Returns:
        float32 features (N, D) and int64 labels (N,).
    """
    features, labels = [], []
    for images, target in tqdm(loader, desc="embed", disable=not progress, leave=False):
        features.append(embed_batch(model, images, device, amp))
        labels.append(target)
    return torch.cat(features).numpy(), torch.cat(labels).numpy()
