"""Typed configuration: encoder, LoDisc method, augmentation and pretraining run.

Every constant from the paper or the reference code is a field here, with the reference value as its
default, so a config file documents exactly what a run did.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The EfficientNet-Lite0 wheel's preprocessing, (x - 127) / 128 on 0-255 pixels.
LITE0_MEAN = (127.0 / 255.0, 127.0 / 255.0, 127.0 / 255.0)
LITE0_STD = (128.0 / 255.0, 128.0 / 255.0, 128.0 / 255.0)


@dataclass
class EncoderConfig:
    """The retrieval encoder: a timm ViT (or hybrid CNN + ViT) backbone plus an optional predictor.

    With ``hybrid``, ``arch`` names a timm CNN whose last feature map becomes the patch tokens of
    transformer blocks built from ``timm_kwargs`` (``lodisc/models/hybrid.py``).
    """

    arch: str = "vit_base_patch16_224"
    img_size: int = 224
    patch_size: int | None = None  # None: the arch's own patch size
    timm_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. embed_dim/depth for tiny tests
    predictor_hidden_dim: int = 4096  # reference: Linear(768->4096)->BN->ReLU->Dropout->Linear
    predictor_dropout: float = 0.2
    use_projector: bool = False  # reference code: projector built but never called
    projector_hidden_dim: int = 4096
    retrieval_feature: str = "predictor"  # "predictor" (reference) or "cls"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize_crop_pct: float = (
        1.0  # eval: resize shorter side to img_size / pct, centre crop img_size
    )
    hybrid: bool = False  # arch is a CNN stem; timm_kwargs configure the transformer on top
    stem_output_stride: int = 16  # 16: a 14 x 14 token grid at 224 px (dilated last stages)
    freeze_stem: bool = True  # stem maps computed once per view, shared by student and teacher
    qk_init: str = "identity"  # hybrid: "identity" (CLS attends to mean-like patches) or "timm"


def tiny_encoder_config() -> EncoderConfig:
    """A 2-block, 32-wide ViT at 32 px with 8-px patches (16 patches): milliseconds per batch on a
    CPU. For tests, smoke runs and fault-injection benchmarks, never for retrieval."""
    return EncoderConfig(
        arch="vit_tiny_patch16_224",
        img_size=32,
        patch_size=8,
        timm_kwargs={"embed_dim": 32, "depth": 2, "num_heads": 2},
        predictor_hidden_dim=64,
        predictor_dropout=0.0,
    )


def photo_encoder_config(img_size: int = 224) -> EncoderConfig:
    """The photo encoder: ImageNet EfficientNet-Lite0 stem (1280 x 14 x 14 at 224 px), 4 blocks
    384 wide starting near identity. Its retrieval feature is the CLS token (a fresh predictor
    would scramble the pretrained features). Load the stem's weights with ``--init lite0``."""
    return EncoderConfig(
        arch="tf_efficientnet_lite0",
        hybrid=True,
        img_size=img_size,
        timm_kwargs={"embed_dim": 384, "depth": 4, "num_heads": 6, "init_values": 1e-5},
        predictor_hidden_dim=1024,
        predictor_dropout=0.0,
        retrieval_feature="cls",
        mean=LITE0_MEAN,
        std=LITE0_STD,
    )


def tiny_hybrid_config() -> EncoderConfig:
    """The photo encoder's shape at 64 px (a 4 x 4 token grid) with 2 blocks 32 wide: for tests."""
    return dataclasses.replace(
        photo_encoder_config(img_size=64),
        timm_kwargs={"embed_dim": 32, "depth": 2, "num_heads": 2, "init_values": 1e-5},
        predictor_hidden_dim=64,
    )


@dataclass
class LoDiscConfig:
    """The LoDisc objective (METHOD.md): global + local InfoNCE with teacher-attention masks."""

    temperature: float = 0.2
    keep_ratio: float = 0.30
    fuse_layers: list[int] | None = None  # None: all layers (reference); else layer indices
    local_mode: str = (
        "pixel"  # "pixel" (reference: zero dropped patches) or "drop" (token dropping)
    )
    local_weight: float = 1.0  # 0 is exactly MoCo v3 (no local branch is computed)
    local_warmup_epochs: float = 0.0  # local loss off before this epoch (reference: 0)
    local_ramp_epochs: float = 0.0  # then ramps linearly to local_weight over this many epochs
    momentum: float = 0.99  # EMA momentum, cosine schedule to momentum_final
    momentum_final: float = 1.0
    ema_updates_per_step: int = 1  # reference code applies the EMA 4x per step by accident


@dataclass
class AugmentConfig:
    """MoCo v3 / BYOL asymmetric view augmentations."""

    crop_scale_min: float = 0.08
    crop_scale_max: float = 1.0
    color_jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: tuple[float, float] = (1.0, 0.1)
    solarize_p: tuple[float, float] = (0.0, 0.2)
    flip_p: float = 0.5
    rotation_degrees: float = 0.0  # not in the reference; helps when pose varies within a class


@dataclass
class PretrainConfig:
    """One pretraining run."""

    data: str = ""
    out: str = ""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    lodisc: LoDiscConfig = field(default_factory=LoDiscConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    init: str = "random"  # random | timm:<name> (pretrained download) | weights file | checkpoint
    epochs: int = 100
    batch_size: int = 32  # global batch, split across DDP ranks
    lr: float = 1e-3  # base lr; actual = lr * batch_size / 256
    weight_decay: float = 0.5
    warmup_epochs: float = 0.0  # reference: no warmup, half-cycle cosine
    min_lr: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA only
    num_workers: int = 2
    log_every: int = 10
    diagnostic_every: int = 50  # steps between mask diagnostics (when object masks exist)
    max_steps: int = 0  # >0 stops after this many optimiser steps (benchmarks, smoke runs)
    max_minutes: float = 0.0  # >0 stops after this much wall time, with a resumable checkpoint
    resume: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainConfig:
        """Build from a nested dict; unknown keys raise ``TypeError``."""
        data = dict(data)
        nested = {"encoder": EncoderConfig, "lodisc": LoDiscConfig, "augment": AugmentConfig}
        for key, sub in nested.items():
            if key in data and isinstance(data[key], dict):
                data[key] = _build(sub, data[key])
        return _build(cls, data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PretrainConfig:
        """Load a YAML file written by hand or by :meth:`to_dict`."""
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), safe for YAML and checkpoints."""
        return to_plain(dataclasses.asdict(self))


def encoder_config_from_dict(data: dict[str, Any]) -> EncoderConfig:
    """Rebuild an :class:`EncoderConfig` stored in a checkpoint."""
    return _build(EncoderConfig, data)


def _build(cls: Any, data: dict[str, Any]) -> Any:
    """Instantiate a dataclass, turning lists back into tuples where the field is a tuple."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise TypeError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    values = {}
    for key, value in data.items():
        if isinstance(value, list) and str(names[key].type).startswith("tuple"):
            value = tuple(value)
        values[key] = value
    return cls(**values)


def to_plain(value: Any) -> Any:
    """Tuples to lists, recursively (for YAML and checkpoints)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value
