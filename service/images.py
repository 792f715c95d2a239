"""Safe decoding of uploaded images: format allow-list, pixel limit before decoding, clear errors."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, UnidentifiedImageError

from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import resized_size

# Pillow's JPEG opener also returns multi-picture JPEGs (format MPO, from many phone cameras).
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


class ImageInputError(ValueError):
    """An upload that is not a usable image; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def set_pixel_guard(max_pixels: int | None) -> int | None:
    """Set Pillow's process-wide bomb guard (it warns above this, raises above twice this).

    Returns:
        The previous value, to restore at shutdown.
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    return previous


def check_size(width: int, height: int, max_pixels: int) -> None:
    """Refuse images with no pixels (400) or over ``max_pixels`` (413) from their header alone."""
    if width < 1 or height < 1:
        raise ImageInputError(f"image is {width}x{height}: it has no pixels")
    if width * height > max_pixels:
        raise ImageInputError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}",
            413,
        )


def check_resized_size(width: int, height: int, short_side: int, max_pixels: int) -> None:
    """Refuse images whose resize to ``short_side`` would exceed ``max_pixels`` (HTTP 413).

    Preprocessing resizes the shorter side before it crops, so a thin strip (1 x 30M pixels,
    a few KB as PNG) would become 32 x 960M pixels: tens of GB for one request.
    """
    new_width, new_height = resized_size(width, height, short_side)
    if new_width * new_height > max_pixels:
        raise ImageInputError(
            f"image is {width}x{height}: resized to a shorter side of {short_side} px it would be "
            f"{new_width}x{new_height} pixels, over the limit of {max_pixels}",
            413,
        )


def decode_image(data: bytes, max_pixels: int, short_side: int | None = None) -> Image.Image:
    """Decode upload bytes to RGB (EXIF orientation applied, first frame of animations).

    The header is parsed first and the pixel count checked before any pixel is decoded, so a
    decompression bomb costs a few bytes of parsing; Pillow's own guard (:func:`set_pixel_guard`)
    stays on as a second line.

    Args:
        data: the uploaded file's bytes.
        max_pixels: largest accepted ``width * height``, before and after preprocessing's resize.
        short_side: the side preprocessing resizes the shorter side to (no resize check if None).

    Returns:
        The decoded RGB image.

    Raises:
        ImageInputError: empty, not an image, an unsupported format, too large or truncated.
    """
    if not data:
        raise ImageInputError("empty upload: the image field has no bytes")
    image_format = "unknown"
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            image_format = str(probe.format)
            check_size(probe.width, probe.height, max_pixels)
            if short_side is not None:
                check_resized_size(probe.width, probe.height, short_side, max_pixels)
        # load_rgb's Image.open takes file objects too; its annotation says paths only.
        image = load_rgb(io.BytesIO(data))  # type: ignore[arg-type]
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageInputError(f"image refused as a decompression bomb: {err}", 413) from err
    except UnidentifiedImageError as err:
        supported = ", ".join(FORMATS)
        raise ImageInputError(f"not an image in a supported format ({supported})") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageInputError(f"cannot decode the {image_format} image: {err}") from err
    check_size(image.width, image.height, max_pixels)  # e.g. a TIFF frame larger than its header
    if short_side is not None:
        check_resized_size(image.width, image.height, short_side, max_pixels)
    return image


def decode_uploads(
    uploads: Sequence[bytes], max_pixels: int, short_side: int | None = None
) -> list[Image.Image]:
    """Decode several uploads; an error names the failing one (``images[i]``) when there are many."""
    images = []
    for position, data in enumerate(uploads):
        try:
            images.append(decode_image(data, max_pixels, short_side))
        except ImageInputError as err:
            if len(uploads) == 1:
                raise
            raise ImageInputError(f"images[{position}]: {err}", err.status) from err
    return images
