"""Upload decoding: supported formats, and a clear 4xx error for every kind of bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.images import ImageInputError, decode_image, decode_uploads

LIMIT = 40_000_000


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sample() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_supported_formats_decode_to_rgb(sample: Image.Image, image_format: str) -> None:
    image = decode_image(encoded(sample, image_format), LIMIT)
    assert image.mode == "RGB" and image.size == (40, 24)


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    red, _, _ = decode_image(data, LIMIT).getpixel((0, 0))  # type: ignore[misc]
    assert red > 200


def test_exif_orientation_is_applied(sample: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    assert decode_image(encoded(sample, "JPEG", exif=exif), LIMIT).size == (24, 40)


def test_rgba_is_composited_on_white() -> None:
    data = encoded(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG")
    assert decode_image(data, LIMIT).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"", 400, "empty upload"),
        (b"this is not an image at all", 400, "not an image"),
        (b"%PDF-1.4 not a supported format", 400, "not an image"),
    ],
)
def test_bad_bytes(data: bytes, status: int, message: str) -> None:
    with pytest.raises(ImageInputError, match=message) as caught:
        decode_image(data, LIMIT)
    assert caught.value.status == status


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_truncated_image(sample: Image.Image, image_format: str) -> None:
    data = encoded(sample, image_format)
    with pytest.raises(ImageInputError, match="cannot decode") as caught:
        decode_image(data[: len(data) // 2], LIMIT)
    assert caught.value.status == 400


def test_decompression_bomb_is_refused_from_its_header(bomb_bytes: bytes) -> None:
    data = bomb_bytes
    assert len(data) < 10_000
    with pytest.raises(ImageInputError, match="pixels|bomb") as caught:
        decode_image(data, LIMIT)
    assert caught.value.status == 413


def test_pixel_limit_applies_below_pillows_guard(sample: Image.Image) -> None:
    with pytest.raises(ImageInputError, match="over the limit of 500") as caught:
        decode_image(encoded(sample, "PNG"), max_pixels=500)
    assert caught.value.status == 413


def test_batch_errors_name_the_image(sample: Image.Image) -> None:
    with pytest.raises(ImageInputError, match=r"images\[1\]: empty upload"):
        decode_uploads([encoded(sample, "PNG"), b""], LIMIT)
