"""Checkpoint I/O: a checkpoint alone rebuilds the encoder (config + preprocessing + weights)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lodisc.atomic import atomic_write
from lodisc.config import EncoderConfig, encoder_config_from_dict, to_plain
from lodisc.inference.image_preprocess import preprocessing_dict
from lodisc.models.encoder import Encoder

logger = logging.getLogger(__name__)

FORMAT = "lodisc-checkpoint-v1"
ZIP_ERROR = "PytorchStreamReader failed"  # torch.load's message for a damaged zip container
# sha256 of everything else in the payload, written with it: torch.load checks no checksum of
# tensor data, so a flipped bit in a stored weight loads silently (checked by hand). Costs one
# pass over the bytes at save and at load (about 1 GB/s; 0.3 s for a ViT-S training state).
DIGEST_KEY = "content_sha256"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, written or fitted to the model, naming the file."""


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
    """Write ``state`` plus the format tag, encoder config and preprocessing, atomically.

    Raises:
        CheckpointError: the write failed (e.g. no space left); ``path`` is left as it was.
    """
    payload = {
        "format": FORMAT,
        "encoder_config": to_plain(dataclasses.asdict(encoder_cfg)),
        "preprocessing": preprocessing_dict(encoder_cfg),
        **state,
    }
    payload[DIGEST_KEY] = content_digest(payload)
    try:
        # Through a Python file object, so a failed write raises an OSError with its errno, which
        # torch's "unexpected pos" RuntimeError carries as its context (given a path, it is lost).
        atomic_write(path, lambda handle: torch.save(payload, handle))
    except (OSError, RuntimeError) as err:
        cause = _os_error_in(err)
        reason = cause.strerror if cause is not None and cause.strerror else str(err)
        raise CheckpointError(
            f"cannot write checkpoint {path}: {reason} (any previous checkpoint is unchanged)"
        ) from err


def content_digest(payload: Mapping[str, Any]) -> str:
    """sha256 of a checkpoint payload without its digest: tensors by dtype, shape and bytes, other
    values by ``repr``, mappings in key order."""
    digest = hashlib.sha256()
    _feed(digest, {key: value for key, value in payload.items() if key != DIGEST_KEY})
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    """Add one payload value (recursively) to ``digest``."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{flat.dtype}{tuple(value.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy())
    elif isinstance(value, Mapping):
        digest.update(f"M{len(value)}".encode())
        for key in sorted(value, key=repr):
            digest.update(f"K{key!r}".encode())
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"V{value!r}".encode())


def _os_error_in(err: BaseException) -> OSError | None:
    """The first OSError in an exception's cause/context chain."""
    current: BaseException | None = err
    while current is not None and not isinstance(current, OSError):
        current = current.__cause__ or current.__context__
    return current


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint dict.

    A checkpoint written with a content digest (all since it was added) is checked against it;
    older ones load unchecked.

    Raises:
        CheckpointError: the file is missing, truncated, corrupt (a flipped bit included) or not
            a LoDisc checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle/zip errors of many kinds
        reason = str(err)
        if ZIP_ERROR in reason:  # a cut or damaged file; torch appends a paragraph of advice
            reason = f"truncated or corrupt file ({reason.split('. ', 1)[0]})"
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a LoDisc checkpoint (missing format tag {FORMAT})")
    expected = payload.get(DIGEST_KEY)
    if expected is not None and content_digest(payload) != expected:
        raise CheckpointError(
            f"checkpoint {path} is damaged: its contents do not match the sha256 written with "
            "it (a flipped bit or a bad copy); use another copy, or train again"
        )
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
