"""Image decoding shared by training, indexing and serving (no torch import)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
BAND_PIXELS = 1 << 20  # pixels converted at a time by reduce_to_rgb: a few MB of temporaries


def load_rgb(source: str | Path | IO[bytes]) -> Image.Image:
    """Decode any PIL-readable image (path or binary file object) as RGB.

    Honours EXIF orientation, takes the first frame of animations, scales 16-bit images to 8 bits
    and composites transparency over white. Malformed metadata leaves the image unrotated.
    """
    with Image.open(source) as opened:
        opened.seek(0)
        opened.load()
        orientation = exif_orientation(opened)
        return apply_orientation(to_rgb(opened), orientation)


def exif_orientation(image: Image.Image) -> int:
    """The EXIF (or XMP) orientation, 1 (as stored) when it is absent or cannot be parsed.

    Pillow parses EXIF and XMP lazily and a malformed block can raise almost anything
    (struct.error, KeyError, ZeroDivisionError...), so every error means "no rotation".
    """
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
        return int(orientation) if orientation in UPRIGHT else 1
    except Exception as err:  # noqa: BLE001 - metadata must never fail a decode
        logger.debug("ignoring unreadable image metadata: %r", err)
        return 1


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """``image`` turned upright for an EXIF ``orientation`` (1 to 8)."""
    method = UPRIGHT.get(orientation)
    return image if method is None else image.transpose(method)


def to_rgb(image: Image.Image, sixteen_bit_max: float | None = None) -> Image.Image:
    """A loaded image of any mode as RGB: 16-bit scaled to 8 bits, transparency over white.

    Args:
        image: the image (or a band of it).
        sixteen_bit_max: the value scaled to 255 in 16-bit modes (default: this image's maximum;
            a band of a larger image passes the whole image's).
    """
    if image.mode in SIXTEEN_BIT_MODES:
        array = np.asarray(image, dtype=np.float32)
        top = float(array.max()) if sixteen_bit_max is None else sixteen_bit_max
        image = Image.fromarray((array * (255.0 / max(1.0, top))).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def reduce_to_rgb(image: Image.Image, factor: int) -> Image.Image:
    """:func:`to_rgb` then ``Image.reduce(factor)``, converted in horizontal bands.

    Converting a 40-MP RGBA image whole makes several full-size copies (RGBA, the white
    background, the composite, RGB: 600+ MB); band by band they stay a few MB. Compositing over
    white is linear per pixel, so reducing the composited bands equals compositing the reduced
    premultiplied image, up to rounding.
    """
    if factor < 2:
        return to_rgb(image)
    top_value = None
    if image.mode in SIXTEEN_BIT_MODES:
        top_value = float(image.getextrema()[1])  # type: ignore[arg-type,index]
    width, height = image.size
    band_rows = factor * max(1, BAND_PIXELS // (width * factor))
    reduced = Image.new("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    for top in range(0, height, band_rows):
        band = image.crop((0, top, width, min(height, top + band_rows)))
        reduced.paste(to_rgb(band, top_value).reduce(factor), (0, top // factor))
    return reduced
