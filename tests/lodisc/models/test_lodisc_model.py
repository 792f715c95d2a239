import copy

import pytest
import timm
import torch

from lodisc.config import EncoderConfig, LoDiscConfig
from lodisc.method.losses import info_nce
from lodisc.models.encoder import Encoder, forward_kept_tokens
from lodisc.models.lodisc_model import LoDiscModel


def _views(cfg: EncoderConfig, batch: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    shape = (batch, 3, cfg.img_size, cfg.img_size)
    return torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)


def test_encoder_embeddings_are_unit_norm(tiny_encoder_cfg: EncoderConfig) -> None:
    encoder = Encoder(tiny_encoder_cfg).eval()
    emb = encoder(_views(tiny_encoder_cfg)[0])
    assert emb.shape == (4, 32) and emb.dtype == torch.float32
    assert torch.allclose(emb.norm(dim=1), torch.ones(4), atol=1e-5)


def test_local_weight_zero_is_exactly_moco_v3(tiny_encoder_cfg: EncoderConfig) -> None:
    torch.manual_seed(0)
    model = LoDiscModel(tiny_encoder_cfg, LoDiscConfig()).train()
    v1, v2 = _views(tiny_encoder_cfg)
    out = model(v1, v2, local_weight=0.0)
    assert out.keep is None and model.attention.rows == []  # no attention, no masked passes
    q1 = model.student.forward_head(model.student.forward_cls(v1))
    q2 = model.student.forward_head(model.student.forward_cls(v2))
    k1, k2 = model.teacher_backbone(v1), model.teacher_backbone(v2)
    moco = info_nce(q1, k2, 0.2) + info_nce(q2, k1, 0.2)
    assert out.loss.item() == pytest.approx(moco.item(), rel=1e-5)


@pytest.mark.parametrize("mode", ["pixel", "drop"])
def test_local_branch_adds_a_loss_with_gradient(tiny_encoder_cfg: EncoderConfig, mode: str) -> None:
    model = LoDiscModel(tiny_encoder_cfg, LoDiscConfig(local_mode=mode)).train()
    out = model(*_views(tiny_encoder_cfg), local_weight=0.5)
    assert out.keep is not None and out.keep.shape == (8, 16)
    assert out.loss.item() == pytest.approx(
        (out.loss_global + 0.5 * out.loss_local).item(), rel=1e-5
    )
    out.loss.backward()
    assert all(p.grad is not None for p in model.student.backbone.parameters() if p.requires_grad)
    assert all(p.grad is None for p in model.teacher_parameters())


def test_token_dropping_with_every_token_equals_the_full_forward(
    tiny_encoder_cfg: EncoderConfig,
) -> None:
    backbone = Encoder(tiny_encoder_cfg).backbone.eval()
    images = _views(tiny_encoder_cfg)[0]
    every = torch.arange(16).expand(4, 16)
    assert torch.allclose(forward_kept_tokens(backbone, images, every), backbone(images), atol=1e-5)


def test_cls_attention_rows_match_timm_explicit_attention(tiny_encoder_cfg: EncoderConfig) -> None:
    encoder = Encoder(tiny_encoder_cfg).eval()
    images = _views(tiny_encoder_cfg)[0]
    reference = copy.deepcopy(encoder.backbone)
    with torch.no_grad():
        _, rows, patches = encoder.forward_explain(images)
    for block in reference.blocks:
        block.attn.fused_attn = False
    extractor = timm.utils.AttentionExtract(
        reference, method="hook", names=["blocks.*.attn.attn_drop"]
    )
    with torch.no_grad():
        maps = extractor(images)  # name -> (B, H, T, T)
    explicit = torch.stack([m[:, :, 0, 1:].mean(dim=1) for m in maps.values()], dim=1)
    assert rows.shape == (4, 2, 16) and patches.shape == (4, 16, 32)
    assert torch.allclose(rows, explicit, atol=1e-6)


@pytest.mark.parametrize("updates", [1, 4])
def test_ema_update_follows_momentum(tiny_encoder_cfg: EncoderConfig, updates: int) -> None:
    model = LoDiscModel(tiny_encoder_cfg, LoDiscConfig(ema_updates_per_step=updates))
    with torch.no_grad():
        for p in model.student.backbone.parameters():
            p.add_(1.0)
    before = [t.clone() for t in model.teacher_parameters()]
    student = [s.clone() for s in model.student.backbone.parameters()]
    model.update_teacher(0.9)
    factor = 0.9**updates
    for t_new, t_old, s in zip(model.teacher_parameters(), before, student, strict=True):
        assert torch.allclose(t_new, factor * t_old + (1 - factor) * s, atol=1e-6)


def test_unknown_local_mode_and_feature_are_refused(tiny_encoder_cfg: EncoderConfig) -> None:
    with pytest.raises(ValueError, match="local_mode"):
        LoDiscModel(tiny_encoder_cfg, LoDiscConfig(local_mode="blur"))
    bad = EncoderConfig(**{**tiny_encoder_cfg.__dict__, "retrieval_feature": "mean"})
    with pytest.raises(ValueError, match="retrieval_feature"):
        Encoder(bad)
