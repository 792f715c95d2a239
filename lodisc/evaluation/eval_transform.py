"""The one eval transform (torchvision): what every consumer's preprocessing reproduces."""

from __future__ import annotations

from torchvision import transforms as T

from lodisc.config import EncoderConfig
from lodisc.inference.image_preprocess import eval_resize


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
