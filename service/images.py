"""Safe decoding of uploaded images: bounded work and memory, clear 4xx errors for anything bad.

One upload goes through, in order: a structural walk of its bytes (segment, scan and chunk
counts; :mod:`service.image_structure`), one ``Image.open`` restricted to :data:`FORMATS`, the
pixel limits from the header, a memory-weighted gate on concurrent decodes and a decode at about
the size the model needs (JPEG draft mode, other formats reduced band by band), with a deadline
and the client's disconnect checked between reads (:mod:`service.decode_budget`). The object the
checks approved is the one decoded: there is no second open.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageFile, UnidentifiedImageError

from lodisc.inference.image_decode import apply_orientation, exif_orientation, reduce_to_rgb
from lodisc.inference.image_preprocess import resized_size
from service.decode_budget import BudgetedReader, DecodeAbortedError, DecodeBudget, DecodeGate
from service.image_structure import Structure, StructureError, StructureLimits, inspect_structure

logger = logging.getLogger(__name__)

# Pillow's JPEG opener also returns multi-picture JPEGs (format MPO, from many phone cameras).
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
MIB = 1024 * 1024
# Decode to at least twice the model's resize side, so that the final bicubic resize still
# downsamples (as it does from a full decode) and overlays keep some detail.
OVERSAMPLE = 2
BAND_OVERHEAD_BYTES = 16 * MIB  # reduce_to_rgb's per-band temporaries
ONE_BYTE_MODES = ("1", "L", "P")


SOURCE_SIZE = "lodisc_source_size"  # image.info key: the upload's displayed size in pixels
ROTATING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


class ImageInputError(ValueError):
    """An upload that is not a usable image; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class DecodePolicy:
    """Per-upload budget and the process-wide gate on concurrent decode memory."""

    structure: StructureLimits = field(default_factory=StructureLimits)
    timeout_s: float = 10.0
    gate: DecodeGate = field(default_factory=lambda: DecodeGate(512 * MIB))


_policy = DecodePolicy()


def set_decode_policy(policy: DecodePolicy) -> DecodePolicy:
    """Install the process-wide policy (the service does at startup); returns the previous one.

    Also turns Pillow's process-wide ``LOAD_TRUNCATED_IMAGES`` off: with it on, a truncated
    upload would decode padded with grey rather than be refused.
    """
    global _policy
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        logger.warning("ImageFile.LOAD_TRUNCATED_IMAGES was on: turned off for uploads")
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    previous, _policy = _policy, policy
    return previous


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

    The structure and the header are checked before any pixel is decoded, so a decompression
    bomb or a flood of chunks costs a few milliseconds; Pillow's own guard
    (:func:`set_pixel_guard`) stays on as a second line.

    Args:
        data: the uploaded file's bytes.
        max_pixels: largest accepted ``width * height``, before and after preprocessing's resize.
        short_side: the side preprocessing resizes the shorter side to: the image is decoded at
            about twice that (no reduction and no resize check if None).

    Returns:
        The decoded RGB image, shorter side at least ``2 * short_side`` when it was larger.

    Raises:
        ImageInputError: empty, not an image, an unsupported format, too large, truncated, too
            costly to decode (400/413), or the decode gate stayed full (429).
    """
    if not data:
        raise ImageInputError("empty upload: the image field has no bytes")
    policy = _policy
    image_format = "unknown"
    try:
        structure = inspect_structure(data, policy.structure)
        budget = DecodeBudget(policy.timeout_s)
        with Image.open(BudgetedReader(data, budget), formats=FORMATS) as opened:
            image_format = str(opened.format)
            check_header(opened, structure, max_pixels, short_side)
            target = None if short_side is None else OVERSAMPLE * short_side
            estimate = plan_decode(opened, structure, target)
            with policy.gate.hold(estimate, budget):
                image = decode_opened(opened, target)
    except ImageInputError:
        raise
    except DecodeAbortedError as err:
        raise ImageInputError(str(err), err.status) from err
    except StructureError as err:
        raise ImageInputError(f"image refused before decoding: {err}") from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageInputError(f"image refused as a decompression bomb: {err}", 413) from err
    except UnidentifiedImageError as err:
        supported = ", ".join(FORMATS)
        raise ImageInputError(f"not an image in a supported format ({supported})") from err
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as err:
        raise ImageInputError(f"cannot decode the {image_format} image: {err}") from err
    check_size(image.width, image.height, max_pixels)  # e.g. a TIFF frame larger than its header
    return image


def check_header(
    opened: Image.Image, structure: Structure, max_pixels: int, short_side: int | None
) -> None:
    """The size checks on the opened header, then whether the data can fill that size."""
    check_size(opened.width, opened.height, max_pixels)
    if short_side is not None:
        check_resized_size(opened.width, opened.height, short_side, max_pixels)
    if not structure.fills_header:
        raise ImageInputError(
            f"cannot decode the {opened.format} image: truncated, its data cannot fill "
            f"the {opened.width}x{opened.height} pixels its header claims"
        )


def plan_decode(opened: Image.Image, structure: Structure, target: int | None) -> int:
    """Set JPEG draft mode for ``target`` and estimate the decode's peak memory in bytes."""
    width, height = opened.size
    opened.info[SOURCE_SIZE] = (width, height)  # draft mode below changes opened.size
    short = min(width, height)
    if target is not None and opened.format in ("JPEG", "MPO") and short > target:
        # libjpeg scales by 1/2, 1/4 or 1/8 while decoding: at least target on the short side.
        opened.draft(None, (math.ceil(width * target / short), math.ceil(height * target / short)))
    pixel_bytes = 1 if opened.mode in ONE_BYTE_MODES else 2 if opened.mode.startswith("I;16") else 4
    decoded = opened.width * opened.height * pixel_bytes
    return decoded + structure.coefficient_bytes + min(decoded, BAND_OVERHEAD_BYTES)


def decode_opened(opened: Image.Image, target: int | None) -> Image.Image:
    """Load the opened image (truncation is an error) and reduce it towards ``target``."""
    opened.load()
    orientation = exif_orientation(opened)
    factor = 1 if target is None else max(1, min(opened.size) // target)
    width, height = opened.info.get(SOURCE_SIZE, opened.size)  # the header's, before any draft
    image = apply_orientation(reduce_to_rgb(opened, factor), orientation)
    rotated = orientation in ROTATING_ORIENTATIONS
    image.info[SOURCE_SIZE] = (height, width) if rotated else (width, height)
    return image


def source_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of the upload as displayed (EXIF orientation applied), before any
    reduction in decoding: the frame a client's pixel coordinates (a search box) refer to."""
    return tuple(image.info.get(SOURCE_SIZE, image.size))  # type: ignore[return-value]


def crop_to_box(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """The region ``box`` = (x0, y0, x1, y1) in the upload's pixels, of a decoded image.

    Raises:
        ImageInputError: a box that is empty or reaches outside the image (400).
    """
    width, height = source_size(image)
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ImageInputError(
            f"box {x0:g},{y0:g},{x1:g},{y1:g} must satisfy 0 <= x0 < x1 <= {width} and "
            f"0 <= y0 < y1 <= {height} (pixels of the uploaded image)"
        )
    scale_x, scale_y = image.width / width, image.height / height
    region = (x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y)
    pixels = (round(region[0]), round(region[1]), round(region[2]), round(region[3]))
    if pixels[2] - pixels[0] < 1 or pixels[3] - pixels[1] < 1:
        raise ImageInputError(f"box {x0:g},{y0:g},{x1:g},{y1:g} is smaller than a pixel")
    return image.crop(pixels)


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
