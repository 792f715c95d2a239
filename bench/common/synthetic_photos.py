"""Photo-like JPEGs for indexing benchmarks: decode cost and file sizes close to real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

JPEG_QUALITY = 90
SENSOR_NOISE = 6.0  # std of the per-pixel Gaussian noise, in 8-bit levels


def write_photo_gallery(
    root: Path, count: int, classes: int, size: tuple[int, int], seed: int = 0
) -> int:
    """``count`` photo-like JPEGs (smooth colour field, shapes, sensor noise) in label folders.

    Args:
        root: gallery folder; images go to ``root/class_NN/img_NNNNN.jpg``.
        count: number of images.
        classes: number of label folders (image ``i`` goes to class ``i % classes``).
        size: (width, height) in pixels.
        seed: the images are a function of it.

    Returns:
        Total bytes written.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    total = 0
    for i in range(count):
        folder = root / f"class_{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        field = rng.integers(0, 256, (4 + i % 3, 5 + i % 4, 3), dtype=np.uint8)
        image = Image.fromarray(field).resize((width, height), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 9))):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            w, h = int(rng.integers(20, width // 2)), int(rng.integers(20, height // 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
            else:
                draw.polygon([(x0, y0), (x0 + w, y0), (x0, y0 + h)], fill=colour)
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(
            0, SENSOR_NOISE, (height, width, 3)
        )
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        path = folder / f"img_{i:05d}.jpg"
        image.save(path, format="JPEG", quality=JPEG_QUALITY)
        total += path.stat().st_size
    return total
