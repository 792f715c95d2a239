"""Torch-free preprocessing for serving and indexing, identical to ``eval_transform``.

It follows the ``preprocessing`` dict stored in checkpoints and ONNX metadata: resize the shorter
side (bicubic, as torchvision does on PIL images), centre-crop, scale to [0, 1], normalise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """torchvision's ``Resize(int)`` output size for a (width, height) image."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def preprocess_image(image: Image.Image, spec: dict[str, Any]) -> np.ndarray:
    """One RGB PIL image -> (3, S, S) float32 array, normalised as ``spec`` says."""
    size = int(spec["img_size"])
    width, height = resized_size(image.width, image.height, int(spec["resize"]))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    array = np.asarray(image, dtype=np.float32) / 255.0  # (S, S, 3)
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    return ((array - mean) / std).transpose(2, 0, 1).copy()


def preprocess_batch(images: Sequence[Image.Image], spec: dict[str, Any]) -> np.ndarray:
    """Several images -> (B, 3, S, S) float32."""
    return np.stack([preprocess_image(image, spec) for image in images])


def crop_box(width: int, height: int, spec: dict[str, Any]) -> tuple[float, float, float, float]:
    """The region of the original image the model sees, as (left, top, right, bottom) pixels."""
    short = int(spec["resize"])
    rw, rh = resized_size(width, height, short)
    scale_x, scale_y = width / rw, height / rh
    size = int(spec["img_size"])
    left, top = int(round((rw - size) / 2.0)), int(round((rh - size) / 2.0))
    return left * scale_x, top * scale_y, (left + size) * scale_x, (top + size) * scale_y
