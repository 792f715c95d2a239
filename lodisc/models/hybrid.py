"""The hybrid ViT: a pretrained CNN's feature map becomes the patch tokens of timm transformer blocks.

The ViT paper's "hybrid" (Dosovitskiy et al. 2021, section 3.1), built from timm's pieces
(``VisionTransformer`` with a ``HybridEmbed`` patch embedding). Two choices make training start
from the CNN's quality instead of destroying it (bench/RESULTS.md, section ``real_photos``):

- the CLS token's input is the mean of the projected patch tokens (plus a learned offset, zero at
  the start), and the blocks start near identity (LayerScale ``init_values`` ~ 1e-5), so the output
  CLS at step 0 is ``LayerNorm(proj(pooled CNN features))``;
- the 1x1 projection from the CNN's channels to the transformer width starts orthonormal, and once
  the stem's weights are loaded :meth:`HybridViT.align_projection` spans the stem's output subspace
  with it (the column space of its last 1x1 conv, BatchNorm folded in): the pooled features keep
  their geometry (flowers12 mAP 0.692-0.695 vs 0.698 pooled; 0.669-0.692 for random orthonormal
  draws, 0.672 for timm's truncated-normal start, at 384 wide).

The query and key projections start as identities (``qk_init="identity"``), so the CLS query
attends to the patches most like the image's mean feature: the teacher's first masks keep object
patches, where timm's random start kept background (flowers12: the kept tokens' pooled features
retrieve at mAP 0.705 against 0.516 with timm's start and 0.687 for random patches).
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

import timm
import torch
from timm.layers import HybridEmbed
from timm.models.vision_transformer import VisionTransformer
from torch import nn

QK_INITS = ("identity", "timm")


def build_stem(arch: str, output_stride: int) -> nn.Module:
    """A randomly initialised timm CNN returning its last feature map (B, C, h, w), no pooling."""
    try:
        return timm.create_model(
            arch, pretrained=False, num_classes=0, global_pool="", output_stride=output_stride
        )
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"cannot build CNN stem {arch!r}: {err}") from err


class HybridViT(VisionTransformer):
    """timm ``VisionTransformer`` whose patch tokens are a CNN stem's feature map.

    Args:
        stem: CNN mapping (B, 3, H, W) images to a (B, C, h, w) feature map.
        img_size: input image size (the token grid is the stem's map at this size).
        freeze_stem: keep the stem's weights fixed (no gradients).
        qk_init: ``identity`` (query and key projections start as identities) or ``timm``.
        **vit_kwargs: timm ``VisionTransformer`` arguments (embed_dim, depth, num_heads,
            mlp_ratio, init_values, ...).
    """

    def __init__(
        self,
        stem: nn.Module,
        img_size: int,
        freeze_stem: bool,
        qk_init: str = "identity",
        **vit_kwargs: Any,
    ) -> None:
        if qk_init not in QK_INITS:
            raise ValueError(f"qk_init must be one of {QK_INITS}, got {qk_init!r}")
        super().__init__(
            img_size=img_size,
            patch_size=1,
            num_classes=0,
            class_token=True,
            no_embed_class=True,  # position embeddings for patches only: the CLS is their mean
            global_pool="token",
            embed_layer=partial(HybridEmbed, backbone=stem),
            **vit_kwargs,
        )
        self.freeze_stem = freeze_stem
        stem.requires_grad_(not freeze_stem)
        with torch.no_grad():
            nn.init.orthogonal_(self.patch_embed.proj.weight.flatten(1))
            nn.init.zeros_(self.patch_embed.proj.bias)
            nn.init.zeros_(cast(torch.Tensor, self.cls_token))
            if qk_init == "identity":
                self._init_identity_qk()
        stem.eval()

    def _init_identity_qk(self) -> None:
        """Query and key weights of every block set to the identity (biases zero)."""
        width = self.embed_dim
        eye = torch.eye(width, device=self.patch_embed.proj.weight.device)
        for block in cast(list[Any], list(self.blocks)):
            qkv = block.attn.qkv  # weight (3D, D): query, key, value rows
            qkv.weight[: 2 * width].copy_(torch.cat([eye, eye]))
            if qkv.bias is not None:
                qkv.bias[: 2 * width].zero_()

    @torch.no_grad()
    def align_projection(self) -> bool:
        """Span the stem's output subspace with the token projection (call after loading weights).

        For stems ending in a 1x1 ``conv_head`` + ``bn2`` (timm EfficientNet/MobileNet), the
        projection's rows become an orthonormal basis of that conv's column space (BatchNorm scale
        folded in; its leading singular directions when the transformer is narrower), completed
        with orthonormal random directions when it is wider.

        Returns:
            False (nothing changed) when the stem has no such head.
        """
        head, norm = getattr(self.stem, "conv_head", None), getattr(self.stem, "bn2", None)
        if head is None or norm is None:
            return False
        proj = self.patch_embed.proj.weight  # (D, C, 1, 1)
        width, channels = proj.shape[:2]
        scale = norm.weight / (norm.running_var + norm.eps).sqrt()  # (C,)
        span = scale[:, None] * head.weight.flatten(1)  # (C, C_in)
        left = torch.linalg.svd(span, full_matrices=False).U  # (C, C_in), leading first
        if left.shape[1] >= width:
            basis = left[:, :width]
        else:
            filler = torch.randn(channels, width - left.shape[1], device=proj.device)
            basis = torch.linalg.qr(torch.cat([left, filler], dim=1)).Q  # (C, D)
        proj.copy_(basis.T.reshape_as(proj))
        return True

    @property
    def stem(self) -> nn.Module:
        """The CNN feature extractor."""
        return self.patch_embed.backbone

    def train(self, mode: bool = True) -> HybridViT:
        """Train mode for the transformer; the stem's BatchNorm keeps its ImageNet statistics."""
        super().train(mode)
        self.stem.eval()
        return self

    def forward_stem(self, images: torch.Tensor) -> torch.Tensor:
        """CNN feature map, (B, 3, H, W) -> (B, C, h, w); no graph when the stem is frozen."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_stem):
            return self.stem(images)

    def embed_stem(self, maps: torch.Tensor) -> torch.Tensor:
        """Project a stem map to patch tokens, (B, C, h, w) -> (B, N, D)."""
        return self.patch_embed.proj(maps).flatten(2).transpose(1, 2)

    def _pos_embed(self, x: torch.Tensor, keep_idx: torch.Tensor | None = None) -> torch.Tensor:
        """Add position embeddings, keep ``keep_idx`` (B, K) patches, prepend CLS = their mean.

        Args:
            x: (B, N, D) patch tokens.
            keep_idx: (B, K) int64 indices of the patches to keep (``None``: all).

        Returns:
            (B, 1 + K, D) tokens.
        """
        pos = cast(torch.Tensor, self.pos_embed).expand(x.shape[0], -1, -1)  # (B, N, D)
        if keep_idx is not None:
            index = keep_idx.unsqueeze(-1).expand(-1, -1, x.shape[-1])
            x, pos = x.gather(1, index), pos.gather(1, index)
        cls = cast(torch.Tensor, self.cls_token) + x.mean(
            dim=1, keepdim=True
        )  # (B, 1, D), before positions
        return self.pos_drop(torch.cat([cls, x + pos], dim=1))

    def forward_from_stem(
        self, maps: torch.Tensor, keep_idx: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pooled (CLS) features from stem maps, optionally on kept patches only (token dropping).

        Args:
            maps: (B, C, h, w) stem feature maps.
            keep_idx: (B, K) int64 patch indices to keep (``None``: all patches).

        Returns:
            (B, D) post-LayerNorm CLS token.
        """
        tokens = self._pos_embed(self.embed_stem(maps), keep_idx)
        tokens = self.norm(self.blocks(self.norm_pre(tokens)))
        return self.forward_head(tokens, pre_logits=True)

    def forward_features(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Post-LayerNorm tokens (B, 1 + N, D) of (B, 3, H, W) images."""
        tokens = self._pos_embed(self.embed_stem(self.forward_stem(x)))
        return self.norm(self.blocks(self.norm_pre(tokens)))


def build_hybrid(
    stem_arch: str,
    img_size: int,
    output_stride: int,
    freeze_stem: bool,
    qk_init: str,
    **vit_kwargs: Any,
) -> HybridViT:
    """A hybrid ViT with a randomly initialised stem (load ImageNet weights with ``--init``)."""
    stem = build_stem(stem_arch, output_stride)
    return HybridViT(stem, img_size, freeze_stem, qk_init, **vit_kwargs)


def shares_frozen_stem(backbone: nn.Module) -> bool:
    """True for a hybrid whose frozen stem maps can be computed once and shared by all branches."""
    return isinstance(backbone, HybridViT) and backbone.freeze_stem
