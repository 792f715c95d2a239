"""Checkpoint I/O: a checkpoint alone rebuilds the encoder (config + preprocessing + weights)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lodisc.atomic import atomic_torch_save
from lodisc.config import EncoderConfig, encoder_config_from_dict, to_plain
from lodisc.models.encoder import Encoder
from lodisc.transforms import preprocessing_dict

logger = logging.getLogger(__name__)

FORMAT = "lodisc-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or does not fit the model, naming the file."""


def unwrap(model: nn.Module) -> nn.Module:
    """Strip DDP (``module.``) and ``torch.compile`` (``_orig_mod.``) wrappers: the one place."""
    while True:
        if hasattr(model, "module"):
            model = model.module  # type: ignore[assignment]
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


def save_checkpoint(path: str | Path, state: dict[str, Any], encoder_cfg: EncoderConfig) -> None:
    """Write ``state`` plus the format tag, encoder config and preprocessing, atomically."""
    payload = {
        "format": FORMAT,
        "encoder_config": to_plain(dataclasses.asdict(encoder_cfg)),
        "preprocessing": preprocessing_dict(encoder_cfg),
        **state,
    }
    atomic_torch_save(payload, path)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint dict.

    Raises:
        CheckpointError: the file is missing, truncated, corrupt or not a LoDisc checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle/zip errors of many kinds
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a LoDisc checkpoint (missing format tag {FORMAT})")
    return payload


def load_encoder(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[Encoder, EncoderConfig]:
    """Rebuild the encoder of a checkpoint in eval mode on ``device``."""
    payload = read_checkpoint(path)
    cfg = encoder_config_from_dict(payload["encoder_config"])
    encoder = Encoder(cfg)
    load_state(encoder, payload["encoder"], path)
    return encoder.to(device).eval(), cfg


def load_state(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """``load_state_dict`` with a message naming the file when shapes or keys do not fit."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0:3]
        raise CheckpointError(
            f"{source} does not fit this model (another architecture or size?): {' '.join(first)}"
        ) from err


def save_release(source: str | Path, target: str | Path) -> None:
    """Copy a training checkpoint without optimiser, teacher or RNG state (for shipping a model)."""
    payload = read_checkpoint(source)
    keep = ("encoder", "progress", "pretrain_config")
    state = {key: payload[key] for key in keep if key in payload}
    save_checkpoint(target, state, encoder_config_from_dict(payload["encoder_config"]))
