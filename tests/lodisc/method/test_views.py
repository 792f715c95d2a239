"""Training views: uint8 from the workers, normalised on the device exactly as ToTensor+Normalize."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T

from lodisc.config import AugmentConfig, EncoderConfig
from lodisc.method.views import RandomGaussianBlur, TwoViewTransform, normalise_views


def _image(size: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8))


def test_views_are_uint8_of_the_encoder_size() -> None:
    enc = EncoderConfig(img_size=32)
    view1, view2 = TwoViewTransform(AugmentConfig(), enc)(_image())
    for view in (view1, view2):
        assert view.dtype == torch.uint8
        assert view.shape == (3, 32, 32)


def test_views_are_deterministic_under_a_seed() -> None:
    transform = TwoViewTransform(AugmentConfig(), EncoderConfig(img_size=32))
    torch.manual_seed(5)
    first = transform(_image())
    torch.manual_seed(5)
    again = transform(_image())
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_normalise_views_matches_to_tensor_and_normalize() -> None:
    enc = EncoderConfig(img_size=16)
    image = _image(16)
    reference = T.Compose([T.CenterCrop(16), T.ToTensor(), T.Normalize(enc.mean, enc.std)])(image)
    views = T.Compose([T.CenterCrop(16), T.PILToTensor()])(image).unsqueeze(0).repeat(2, 1, 1, 1)
    out = normalise_views(views, enc)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 16, 16)
    assert torch.allclose(out[0], reference, atol=1e-5)
    assert torch.equal(out[0], out[1])


def test_blur_radius_is_drawn_in_range_and_smooths() -> None:
    image = _image(64)
    blur = RandomGaussianBlur((1.5, 2.0))
    torch.manual_seed(0)
    blurred = np.asarray(blur(image), dtype=np.float64)
    sharp = np.asarray(image, dtype=np.float64)
    # Random noise loses most of its pixel-to-pixel variation under a sigma >= 1.5 blur.
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.3 * np.abs(np.diff(sharp, axis=1)).mean()
    torch.manual_seed(0)
    radius = 1.5 + 0.5 * float(torch.rand(()))
    torch.manual_seed(0)
    assert np.array_equal(
        np.asarray(blur(image)), np.asarray(image.filter(ImageFilter.GaussianBlur(radius=radius)))
    )


@pytest.mark.parametrize("size", [64, 224])
def test_blur_sigma_scales_with_image_size(size: int) -> None:
    transform = TwoViewTransform(AugmentConfig(), EncoderConfig(img_size=size))
    blurs = [t for t in transform.view1.transforms if isinstance(t, T.RandomApply)]
    sigma = next(
        inner.sigma
        for t in blurs
        for inner in t.transforms
        if isinstance(inner, RandomGaussianBlur)
    )
    assert sigma == pytest.approx((0.1 * size / 224, 2.0 * size / 224))
