"""LoDisc fine-grained retrieval: the shared package (encoder, masks, losses, data, checkpoints).

Re-exports resolve lazily, so ``import lodisc.index_format.catalog`` (the service) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Encoder": "lodisc.models.encoder",
    "build_backbone": "lodisc.models.encoder",
    "EncoderConfig": "lodisc.config",
    "LoDiscConfig": "lodisc.config",
    "PretrainConfig": "lodisc.config",
    "embed_images": "lodisc.evaluation.embed",
    "load_encoder": "lodisc.checkpoint",
    "save_checkpoint": "lodisc.checkpoint",
    "pick_device": "lodisc.runtime",
    "FaissIndex": "lodisc.index_format.vectors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lodisc' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
