"""Image decoding shared by training, indexing and serving (no torch import)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


def load_rgb(source: str | Path | IO[bytes]) -> Image.Image:
    """Decode any PIL-readable image (path or binary file object) as RGB.

    Honours EXIF orientation, takes the first frame of animations, scales 16-bit images to 8 bits
    and composites transparency over white.
    """
    with Image.open(source) as opened:
        opened.seek(0)
        image: Image.Image = ImageOps.exif_transpose(opened)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image, dtype=np.float32)
            scale = 255.0 / max(1.0, float(array.max()))
            image = Image.fromarray((array * scale).astype(np.uint8))
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        return image.convert("RGB")
