"""LoDisc fine-grained retrieval: the shared package (encoder, masks, losses, data, checkpoints)."""

from lodisc.checkpoint import load_encoder, save_checkpoint
from lodisc.config import EncoderConfig, LoDiscConfig, PretrainConfig
from lodisc.embed import embed_images
from lodisc.models.encoder import Encoder, build_backbone
from lodisc.runtime import pick_device

__all__ = [
    "Encoder",
    "EncoderConfig",
    "LoDiscConfig",
    "PretrainConfig",
    "build_backbone",
    "embed_images",
    "load_encoder",
    "pick_device",
    "save_checkpoint",
]
