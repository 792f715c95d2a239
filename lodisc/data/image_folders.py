"""Image folders in the ``train/<class>/*`` + ``test/<class>/*`` layout, robust to bad files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from lodisc.inference.image_decode import IMAGE_EXTENSIONS, load_rgb

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A data folder that cannot be used, with a message that says why."""


@dataclass(frozen=True)
class ImageList:
    """Readable images of a folder tree and their class indices."""

    paths: list[Path]
    labels: list[int]
    classes: list[str]
    skipped: list[Path]


def resolve_split(root: str | Path, split: str) -> Path:
    """``root/split`` when it exists, else ``root`` itself when it holds class folders."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"not a folder: {root}")
    candidate = root / split
    return candidate if candidate.is_dir() else root


def _is_readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception:  # noqa: BLE001 - any decoder error means "skip this file"
        return False


def list_images(folder: str | Path, workers: int = 8) -> ImageList:
    """Images under ``folder``, labelled by their class sub-folder (any depth below it); images
    directly in ``folder`` form one unlabelled class ``""`` (an unsorted photo folder).
    Unreadable files are skipped with one warning and counted.

    Raises:
        DataError: the folder is missing or holds no readable image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if loose:
        classes = ["", *classes]
    candidates: list[tuple[Path, int]] = [(p, 0) for p in loose]
    for index, name in enumerate(classes):
        if not name:
            continue
        files = sorted(p for p in (folder / name).rglob("*") if p.is_file())
        candidates += [(p, index) for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        readable = list(pool.map(_is_readable, (p for p, _ in candidates)))
    paths = [p for (p, _), ok in zip(candidates, readable, strict=True) if ok]
    labels = [c for (_, c), ok in zip(candidates, readable, strict=True) if ok]
    skipped = [p for (p, _), ok in zip(candidates, readable, strict=True) if not ok]
    if skipped:
        logger.warning(
            "skipped %d unreadable image(s) in %s, e.g. %s", len(skipped), folder, skipped[0]
        )
    if not paths:
        found = f"{len(skipped)} unreadable file(s)" if skipped else "no image files"
        raise DataError(
            f"no readable images in {folder} ({found}; expected {folder}/<image> or "
            f"{folder}/<class>/<image>, extensions {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return ImageList(paths, labels, classes, skipped)


class ImageFolderDataset(Dataset):
    """Images with deterministic per-sample augmentation seeds.

    The transform's randomness is seeded from ``(seed, epoch, index)``, so a sample's views do not
    depend on the worker, the rank or the position in the run: resume and DDP reproduce them exactly.
    A key ``epoch * len(self) + index`` selects another epoch's views, so samplers can carry the epoch
    to persistent workers, which never see :meth:`set_epoch` calls made in the main process.
    """

    def __init__(
        self, images: ImageList, transform: Callable[[Image.Image], Any], seed: int = 0
    ) -> None:
        self.images = images
        self.transform = transform
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation seeds of an epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images.paths)

    def __getitem__(self, key: int) -> tuple[Any, int]:
        epoch, index = divmod(key, len(self))
        epoch = epoch or self.epoch
        for attempt in range(len(self)):
            current = (index + attempt) % len(self)
            try:
                image = load_rgb(self.images.paths[current])
            except Exception as err:  # noqa: BLE001 - a file that passed verify() but fails to decode
                logger.warning(
                    "cannot decode %s (%s); using the next image", self.images.paths[current], err
                )
                continue
            sample_seed = (self.seed * 1_000_003 + epoch) * 10_000_019 + current
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed % (2**63))
                return self.transform(image), self.images.labels[current]
        raise DataError("no image of the dataset could be decoded")
