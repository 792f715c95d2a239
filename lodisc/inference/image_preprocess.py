"""Torch-free preprocessing for serving and indexing, identical to ``eval_transform``.

It follows the ``preprocessing`` dict stored in checkpoints and ONNX metadata: resize the shorter
side (bicubic, as torchvision does on PIL images), centre-crop, scale to [0, 1], normalise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from lodisc.config import EncoderConfig


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """torchvision's ``Resize(int)`` output size for a (width, height) image."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def crop_uint8(image: Image.Image, spec: dict[str, Any]) -> np.ndarray:
    """One RGB PIL image -> (3, S, S) uint8: resize the shorter side, centre-crop.

    Only the crop is resampled (PIL's ``box``): the filter taps of resizing the whole image and
    cropping afterwards, for about half the work; rounding moves about 1 pixel in 10,000 by one
    grey level.
    """
    size = int(spec["img_size"])
    width, height = resized_size(image.width, image.height, int(spec["resize"]))
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    if width >= size and height >= size:
        scale_x, scale_y = image.width / width, image.height / height
        box = (left * scale_x, top * scale_y, (left + size) * scale_x, (top + size) * scale_y)
        image = image.resize((size, size), Image.Resampling.BICUBIC, box=box)
    else:  # the crop reaches past the resized image: PIL pads the outside with black
        image = image.resize((width, height), Image.Resampling.BICUBIC)
        image = image.crop((left, top, left + size, top + size))
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))


def normalisation_affine(
    mean: Sequence[float], std: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """``(x / 255 - mean) / std`` as one float32 (3, 1, 1) scale and offset per channel.

    The one definition of the normalisation: serving (numpy) and training views (torch) use it.
    """
    mean64 = np.asarray(mean, dtype=np.float64)
    std64 = np.asarray(std, dtype=np.float64)
    scale = (1.0 / (255.0 * std64)).astype(np.float32)[:, None, None]
    offset = (-mean64 / std64).astype(np.float32)[:, None, None]
    return scale, offset


def normalise(pixels: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """(..., 3, S, S) uint8 -> float32 ``(x / 255 - mean) / std`` in two vectorised passes."""
    scale, offset = normalisation_affine(spec["mean"], spec["std"])
    out = np.multiply(pixels, scale, dtype=np.float32)
    out += offset
    return out


def eval_resize(cfg: EncoderConfig) -> int:
    """Shorter-side size before the centre crop."""
    return int(round(cfg.img_size / cfg.resize_crop_pct))


def preprocessing_dict(cfg: EncoderConfig) -> dict[str, Any]:
    """What a consumer (indexer, ONNX service) needs to reproduce the eval transform."""
    return {
        "img_size": cfg.img_size,
        "resize": eval_resize(cfg),
        "interpolation": "bicubic",
        "crop": "center",
        "mean": list(cfg.mean),
        "std": list(cfg.std),
    }


def preprocess_image(image: Image.Image, spec: dict[str, Any]) -> np.ndarray:
    """One RGB PIL image -> (3, S, S) float32 array, normalised as ``spec`` says."""
    return normalise(crop_uint8(image, spec), spec)


def preprocess_batch(images: Sequence[Image.Image], spec: dict[str, Any]) -> np.ndarray:
    """Several images -> (B, 3, S, S) float32."""
    return normalise(np.stack([crop_uint8(image, spec) for image in images]), spec)


def crop_box(width: int, height: int, spec: dict[str, Any]) -> tuple[float, float, float, float]:
    """The region of the original image the model sees, as (left, top, right, bottom) pixels."""
    short = int(spec["resize"])
    rw, rh = resized_size(width, height, short)
    scale_x, scale_y = width / rw, height / rh
    size = int(spec["img_size"])
    left, top = int(round((rw - size) / 2.0)), int(round((rh - size) / 2.0))
    return left * scale_x, top * scale_y, (left + size) * scale_x, (top + size) * scale_y
