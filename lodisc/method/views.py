"""The two asymmetric training views (MoCo v3 / BYOL) and their normalisation on the device."""

from __future__ import annotations

import functools
from typing import Any

import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T

from lodisc.config import AugmentConfig, EncoderConfig
from lodisc.inference.image_preprocess import normalisation_affine


class RandomGaussianBlur:
    """MoCo v3's blur: PIL's Gaussian filter with a radius drawn uniformly from ``sigma``.

    PIL's C filter is many times cheaper than torchvision's tensor blur, which left a GPU waiting
    for its loader (bench/RESULTS.md, sections ``loader`` and ``gpu_pretrain``)."""

    def __init__(self, sigma: tuple[float, float]) -> None:
        self.sigma = sigma

    def __call__(self, image: Image.Image) -> Image.Image:
        low, high = self.sigma
        radius = low + (high - low) * float(torch.rand(()))
        return image.filter(ImageFilter.GaussianBlur(radius=radius))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sigma={self.sigma})"


def _view(aug: AugmentConfig, enc: EncoderConfig, blur_p: float, solarize_p: float) -> T.Compose:
    """One MoCo v3 / BYOL view as a uint8 (3, S, S) tensor; :func:`normalise_views` finishes it on
    the training device. The blur's sigma scales with the image size (0.1-2.0 at 224 px)."""
    size = enc.img_size
    sigma = (0.1 * size / 224, 2.0 * size / 224)
    jitter = T.ColorJitter(aug.brightness, aug.contrast, aug.saturation, aug.hue)
    rotate = [T.RandomRotation(aug.rotation_degrees)] if aug.rotation_degrees > 0 else []
    steps: list[Any] = [
        *rotate,
        T.RandomResizedCrop(
            size,
            scale=(aug.crop_scale_min, aug.crop_scale_max),
            interpolation=T.InterpolationMode.BICUBIC,
        ),
        T.RandomApply([jitter], p=aug.color_jitter_p),
        T.RandomGrayscale(p=aug.grayscale_p),
        T.RandomApply([RandomGaussianBlur(sigma)], p=blur_p),
        T.RandomSolarize(128, p=solarize_p),
        T.RandomHorizontalFlip(p=aug.flip_p),
        T.PILToTensor(),
    ]
    return T.Compose(steps)


@functools.lru_cache(maxsize=8)
def _affine(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`normalisation_affine` as tensors on ``device``, built once per device."""
    scale, offset = normalisation_affine(mean, std)
    return torch.from_numpy(scale).to(device), torch.from_numpy(offset).to(device)


def normalise_views(views: torch.Tensor, enc: EncoderConfig) -> torch.Tensor:
    """(B, 3, S, S) uint8 views -> float32 ``(x / 255 - mean) / std`` on their own device.

    Loader workers hand over uint8 (a quarter of the bytes through shared memory and to the GPU)."""
    scale, offset = _affine(tuple(enc.mean), tuple(enc.std), views.device)
    return torch.addcmul(offset, views.float(), scale)


class TwoViewTransform:
    """Two asymmetric augmented uint8 views of one image (view 1: blur always; view 2: solarize)."""

    def __init__(self, aug: AugmentConfig, enc: EncoderConfig) -> None:
        self.view1 = _view(aug, enc, aug.blur_p[0], aug.solarize_p[0])
        self.view2 = _view(aug, enc, aug.blur_p[1], aug.solarize_p[1])

    def __call__(self, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        return self.view1(image), self.view2(image)
