"""Training data: the two-view loader (DDP-aware, resumable mid-epoch) and the diagnostic probe."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, DistributedSampler
from torchvision import transforms as T

from lodisc.config import PretrainConfig
from lodisc.data.image_folders import (
    DataError,
    ImageFolderDataset,
    ImageList,
    list_images,
    load_rgb,
    resolve_split,
)
from lodisc.data.synthetic import mask_path_for
from lodisc.evaluation.eval_transform import eval_transform
from lodisc.inference.image_preprocess import eval_resize
from lodisc.method.views import TwoViewTransform
from lodisc.runtime import rank, world_size

logger = logging.getLogger(__name__)

PROBE_SIZE = 64


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (also for one process) that can start part-way into an epoch.

    It yields ``epoch * size + index`` keys (see :class:`ImageFolderDataset`), so persistent loader
    workers draw the right epoch's augmentations.
    """

    def __init__(self, size: int, seed: int) -> None:
        super().__init__(
            range(size),
            num_replicas=world_size(),
            rank=rank(),
            shuffle=True,
            seed=seed,
            drop_last=True,
        )
        self.start = 0
        self.size = size

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter([self.epoch * self.size + i for i in indices[self.start :]])

    def __len__(self) -> int:
        return self.num_samples - self.start


@dataclass
class TrainData:
    """The two-view loader and what the loop needs to know about it."""

    dataset: ImageFolderDataset
    sampler: ResumableSampler
    loader: DataLoader
    steps_per_epoch: int
    per_rank_batch: int


def build_train_data(cfg: PretrainConfig, pin_memory: bool) -> TrainData:
    """Loader over ``data/train`` (or ``data`` itself) with deterministic per-sample views."""
    images = list_images(resolve_split(cfg.data, "train"))
    if cfg.batch_size % world_size() != 0:
        raise DataError(f"batch size {cfg.batch_size} is not divisible by {world_size()} processes")
    per_rank = cfg.batch_size // world_size()
    dataset = ImageFolderDataset(images, TwoViewTransform(cfg.augment, cfg.encoder), seed=cfg.seed)
    sampler = ResumableSampler(len(dataset), cfg.seed)
    steps = sampler.num_samples // per_rank
    if steps == 0:
        raise DataError(
            f"{len(dataset)} training images are fewer than one batch of {cfg.batch_size}; "
            "lower --batch-size"
        )
    loader = DataLoader(
        dataset,
        batch_size=per_rank,
        sampler=sampler,
        num_workers=cfg.num_workers,
        drop_last=True,
        pin_memory=pin_memory,
        persistent_workers=cfg.num_workers > 0,
        generator=torch.Generator(),  # keeps the global RNG (dropout) independent of the loader
    )
    logger.info(
        "%d training images, %d classes, %d steps/epoch", len(dataset), len(images.classes), steps
    )
    return TrainData(dataset, sampler, loader, steps, per_rank)


def load_probe(cfg: PretrainConfig) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Up to ``PROBE_SIZE`` eval-transformed images with their part masks, when masks exist."""
    root = Path(cfg.data)
    split = root / "test" if (root / "test").is_dir() else resolve_split(root, "train")
    try:
        images: ImageList = list_images(split)
    except DataError:
        return None
    step = max(1, len(images.paths) // PROBE_SIZE)
    chosen = [p for p in images.paths[::step][:PROBE_SIZE] if mask_path_for(p).is_file()]
    if not chosen:
        return None
    to_tensor = eval_transform(cfg.encoder)
    geometry = T.Compose(
        [
            T.Resize(eval_resize(cfg.encoder), interpolation=T.InterpolationMode.NEAREST),
            T.CenterCrop(cfg.encoder.img_size),
        ]
    )
    pixels = torch.stack([to_tensor(load_rgb(p)) for p in chosen])
    masks = [np.asarray(geometry(Image.open(mask_path_for(p)))) for p in chosen]
    return pixels, torch.from_numpy(np.stack(masks))
