"""The retrieval encoder, defined once: timm ViT (or hybrid) backbone -> heads -> L2 norm."""

from __future__ import annotations

from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn

from lodisc.config import EncoderConfig
from lodisc.models.attention import CLSAttentionRecorder
from lodisc.models.heads import build_predictor, build_projector
from lodisc.models.hybrid import HybridViT, build_hybrid

RETRIEVAL_FEATURES = ("predictor", "cls")


def build_backbone(cfg: EncoderConfig) -> Any:
    """A randomly initialised timm ViT (or hybrid) returning its post-LayerNorm CLS token."""
    if cfg.hybrid:
        if cfg.patch_size is not None:
            raise ValueError(
                "a hybrid's token grid is its stem's feature map: leave patch_size unset"
            )
        return build_hybrid(
            cfg.arch,
            cfg.img_size,
            cfg.stem_output_stride,
            cfg.freeze_stem,
            cfg.qk_init,
            **cfg.timm_kwargs,
        )
    kwargs = dict(cfg.timm_kwargs)
    if cfg.patch_size is not None:
        kwargs["patch_size"] = cfg.patch_size
    try:
        model = timm.create_model(
            cfg.arch, pretrained=False, num_classes=0, img_size=cfg.img_size, **kwargs
        )
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"cannot build backbone {cfg.arch!r}: {err}") from err
    if not hasattr(model, "blocks") or not hasattr(model, "patch_embed"):
        raise ValueError(f"{cfg.arch!r} is not a ViT with patch tokens and blocks")
    return model


class Encoder(nn.Module):
    """Backbone plus heads; ``forward`` returns the L2-normalised retrieval embedding.

    Args:
        cfg: the encoder configuration (stored in every checkpoint).
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        if cfg.retrieval_feature not in RETRIEVAL_FEATURES:
            raise ValueError(f"retrieval_feature must be one of {RETRIEVAL_FEATURES}")
        self.cfg = cfg
        self.backbone: Any = build_backbone(cfg)
        dim = int(self.backbone.num_features)
        self.projector: nn.Module = (
            build_projector(dim, cfg.projector_hidden_dim) if cfg.use_projector else nn.Identity()
        )
        self.predictor = build_predictor(dim, cfg.predictor_hidden_dim, cfg.predictor_dropout)
        self._attention: CLSAttentionRecorder | None = None

    @property
    def embed_dim(self) -> int:
        """Width of the retrieval embedding."""
        return int(self.backbone.num_features)

    @property
    def grid_size(self) -> tuple[int, int]:
        """Patch grid (rows, cols) of the backbone."""
        grid = self.backbone.patch_embed.grid_size
        return int(grid[0]), int(grid[1])

    def forward_cls(self, images: torch.Tensor) -> torch.Tensor:
        """Post-LayerNorm CLS token, (B, 3, H, W) -> (B, D)."""
        return self.backbone(images)

    def forward_head(self, cls: torch.Tensor) -> torch.Tensor:
        """Projector then predictor (the student's query ``q``), (B, D) -> (B, D)."""
        return self.predictor(self.projector(cls))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised retrieval embedding, (B, 3, H, W) float -> (B, D) float."""
        cls = self.forward_cls(images)
        feature = self.forward_head(cls) if self.cfg.retrieval_feature == "predictor" else cls
        return F.normalize(feature.float(), dim=1)

    def forward_explain(
        self, images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embedding plus what overlays need.

        Returns:
            embedding (B, D), cls_attention (B, L, N) head-averaged CLS rows per layer, and
            patch_tokens (B, N, D) L2-normalised post-LN patch tokens (for correspondences).
        """
        if self._attention is None:
            self._attention = CLSAttentionRecorder(self.backbone)
        with self._attention.record() as rows:
            tokens = self.backbone.forward_features(images)  # (B, T, D)
        cls = self.backbone.forward_head(tokens, pre_logits=True)
        feature = self.forward_head(cls) if self.cfg.retrieval_feature == "predictor" else cls
        prefix = int(self.backbone.num_prefix_tokens)
        patches = F.normalize(tokens[:, prefix:].float(), dim=-1)
        return F.normalize(feature.float(), dim=1), torch.stack(rows, dim=1), patches


def forward_kept_tokens(
    backbone: Any, images: torch.Tensor, keep_idx: torch.Tensor
) -> torch.Tensor:
    """Token dropping: run the backbone on the prefix tokens plus the kept patch tokens only.

    Args:
        backbone: a timm ``VisionTransformer`` or a :class:`HybridViT` (whose CLS input is then
            the mean of the kept tokens only).
        images: (B, 3, H, W) normalised images.
        keep_idx: (B, K) int64 indices of the patches to keep.

    Returns:
        (B, D) pooled (CLS) features, as ``backbone(images)`` would give on the full sequence.
    """
    if isinstance(backbone, HybridViT):
        return backbone.forward_from_stem(backbone.forward_stem(images), keep_idx)
    tokens = backbone._pos_embed(backbone.patch_embed(images))  # (B, P + N, D)
    prefix = int(backbone.num_prefix_tokens)
    width = tokens.shape[-1]
    kept = tokens[:, prefix:].gather(1, keep_idx.unsqueeze(-1).expand(-1, -1, width))
    tokens = torch.cat([tokens[:, :prefix], kept], dim=1)
    tokens = backbone.norm(backbone.blocks(backbone.norm_pre(tokens)))
    return backbone.forward_head(tokens, pre_logits=True)
