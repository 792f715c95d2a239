"""Preprocessing: the one eval transform and the two asymmetric training views."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image
from torchvision import transforms as T

from lodisc.config import AugmentConfig, EncoderConfig


def eval_resize(cfg: EncoderConfig) -> int:
    """Shorter-side size before the centre crop."""
    return int(round(cfg.img_size / cfg.resize_crop_pct))


def eval_transform(cfg: EncoderConfig) -> T.Compose:
    """Resize the shorter side, centre-crop ``img_size``, normalise: used by every consumer."""
    return T.Compose(
        [
            T.Resize(eval_resize(cfg), interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(cfg.img_size),
            T.ToTensor(),
            T.Normalize(cfg.mean, cfg.std),
        ]
    )


def preprocessing_dict(cfg: EncoderConfig) -> dict[str, Any]:
    """What a consumer (indexer, ONNX service) needs to reproduce :func:`eval_transform`."""
    return {
        "img_size": cfg.img_size,
        "resize": eval_resize(cfg),
        "interpolation": "bicubic",
        "crop": "center",
        "mean": list(cfg.mean),
        "std": list(cfg.std),
    }


def _view(aug: AugmentConfig, enc: EncoderConfig, blur_p: float, solarize_p: float) -> T.Compose:
    """One MoCo v3 / BYOL view; blur kernel and sigma scale with the image size (23 px at 224)."""
    size = enc.img_size
    kernel = max(3, int(size * 0.1) // 2 * 2 + 1)
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
        T.RandomApply([T.GaussianBlur(kernel, sigma)], p=blur_p),
        T.RandomSolarize(128, p=solarize_p),
        T.RandomHorizontalFlip(p=aug.flip_p),
        T.ToTensor(),
        T.Normalize(enc.mean, enc.std),
    ]
    return T.Compose(steps)


class TwoViewTransform:
    """Two asymmetric augmented views of one image (view 1: blur always; view 2: solarize)."""

    def __init__(self, aug: AugmentConfig, enc: EncoderConfig) -> None:
        self.view1 = _view(aug, enc, aug.blur_p[0], aug.solarize_p[0])
        self.view2 = _view(aug, enc, aug.blur_p[1], aug.solarize_p[1])

    def __call__(self, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        return self.view1(image), self.view2(image)
