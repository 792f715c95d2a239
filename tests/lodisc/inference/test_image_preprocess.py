"""The torch-free preprocessing (indexer, service) against the training code's ``eval_transform``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lodisc.config import EncoderConfig
from lodisc.evaluation.eval_transform import eval_transform
from lodisc.inference.image_preprocess import (
    crop_uint8,
    normalise,
    preprocess_batch,
    preprocess_image,
    preprocessing_dict,
)


@pytest.mark.parametrize(
    ("img_size", "width", "height"),
    [
        (224, 500, 375),
        (224, 375, 500),
        (224, 1000, 37),
        (64, 64, 64),
        (64, 4000, 3000),
        (32, 33, 90),
    ],
)
def test_matches_eval_transform(img_size: int, width: int, height: int) -> None:
    """Resampling only the crop moves at most one grey level, on about 1 pixel in 10,000."""
    cfg = EncoderConfig(img_size=img_size)
    spec = preprocessing_dict(cfg)
    rng = np.random.default_rng(width * height)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    expected = eval_transform(cfg)(image).numpy()
    got = preprocess_image(image, spec)
    assert got.shape == expected.shape == (3, img_size, img_size) and got.dtype == np.float32
    one_level = 1.0 / (255.0 * min(cfg.std))
    diff = np.abs(got - expected)
    assert diff.max() <= one_level + 1e-5
    assert (diff > 1e-4).mean() < 2e-3


def test_uint8_crop_and_batch_normalisation() -> None:
    spec = preprocessing_dict(EncoderConfig(img_size=32))
    images = [Image.new("RGB", (40, 50), colour) for colour in ((0, 0, 0), (255, 128, 7))]
    pixels = np.stack([crop_uint8(image, spec) for image in images])
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 3, 32, 32)
    assert pixels[1, :, 5, 5].tolist() == [255, 128, 7]
    batch = preprocess_batch(images, spec)
    np.testing.assert_array_equal(batch, normalise(pixels, spec))
    mean, std = np.asarray(spec["mean"]), np.asarray(spec["std"])
    np.testing.assert_allclose(
        batch[1, :, 0, 0], (np.array([255, 128, 7]) / 255 - mean) / std, 1e-5
    )
    np.testing.assert_allclose(batch[0, :, 0, 0], -mean / std, 1e-5)
