"""Student initialisation: random, a timm pretrained name, a weights file, or a LoDisc checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

import timm
import torch

from lodisc.checkpoint import CheckpointError, load_state, read_checkpoint
from lodisc.config import EncoderConfig
from lodisc.models.lodisc_model import LoDiscModel

logger = logging.getLogger(__name__)

TIMM_PREFIX = "timm:"


def is_lodisc_checkpoint(init: str) -> bool:
    """True when ``init`` names a readable LoDisc checkpoint."""
    if not Path(init).is_file():
        return False
    try:
        read_checkpoint(init)
    except CheckpointError:
        return False
    return True


def initialise(model: LoDiscModel, init: str, encoder_cfg: EncoderConfig) -> None:
    """Load initial student weights, then copy them into the teacher.

    Args:
        model: the freshly built LoDisc model.
        init: ``random``; ``timm:<name>`` (downloads pretrained weights: needs internet); a
            LoDisc checkpoint (refresh a model on new images); or a backbone weights file.
        encoder_cfg: the run's encoder config (for the timm model's image size).
    """
    if init in ("", "random"):
        return
    if init.startswith(TIMM_PREFIX):
        name = init[len(TIMM_PREFIX) :]
        try:
            source = timm.create_model(
                name, pretrained=True, num_classes=0, img_size=encoder_cfg.img_size
            )
        except Exception as err:  # noqa: BLE001 - network, hub and name errors alike
            raise CheckpointError(f"cannot load pretrained timm weights {name!r}: {err}") from err
        _load_backbone(model, source.state_dict(), init)
    elif not Path(init).is_file():
        raise CheckpointError(f"--init: no such file {init!r} (use random, timm:<name> or a path)")
    elif is_lodisc_checkpoint(init):
        load_state(model.student, read_checkpoint(init)["encoder"], init)
        logger.info("initialised the student from checkpoint %s", init)
    else:
        _load_backbone(model, _read_weights(Path(init)), init)
    model.load_teacher_from_student()


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


def _load_backbone(model: LoDiscModel, state: dict[str, torch.Tensor], source: str) -> None:
    """Load backbone weights (prefix ``backbone.`` / ``module.`` stripped), refusing a poor fit."""
    cleaned = {}
    for key, value in state.items():
        for prefix in ("module.", "backbone.", "encoder."):
            key = key.removeprefix(prefix)
        cleaned[key] = value
    target = model.student.backbone.state_dict()
    usable = {k: v for k, v in cleaned.items() if k in target and target[k].shape == v.shape}
    missing = sorted(set(target) - set(usable))
    if len(usable) < 0.9 * len(target):
        raise CheckpointError(
            f"{source} does not fit backbone {encoder_name(model)}: {len(missing)} of {len(target)} "
            f"tensors missing or of another shape (e.g. {missing[:3]})"
        )
    model.student.backbone.load_state_dict(usable, strict=False)
    logger.info(
        "initialised the backbone from %s (%d tensors, %d missing)",
        source,
        len(usable),
        len(missing),
    )


def encoder_name(model: LoDiscModel) -> str:
    """The timm architecture name of the model."""
    return model.student.cfg.arch
