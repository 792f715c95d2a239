import pytest
import torch

from lodisc.method.masking import (
    apply_pixel_mask,
    fuse_attention,
    keep_indices,
    keep_mask,
    num_kept,
    pixel_mask,
)
from tests.oracles.reference_loops import loop_pixel_mask


def test_vectorised_mask_equals_reference_loop() -> None:
    scores = torch.randn(6, 49, generator=torch.Generator().manual_seed(0))
    vectorised = pixel_mask(keep_mask(scores, 0.3), (7, 7), (4, 4))
    assert torch.equal(vectorised, loop_pixel_mask(scores, 0.3, 7, 4))


def test_keep_mask_keeps_reference_count_and_top_scores() -> None:
    scores = torch.randn(4, 196, generator=torch.Generator().manual_seed(1))
    keep = keep_mask(scores, 0.3)
    assert keep.sum(dim=1).tolist() == [58] * 4  # 58 of 196, as the reference
    top = scores.topk(58, dim=1).indices
    assert torch.equal(keep.gather(1, top), torch.ones_like(top, dtype=torch.bool))
    assert set(keep_indices(scores, 0.3)[0].tolist()) == set(top[0].tolist())


def test_fuse_is_product_over_layers_without_underflow() -> None:
    rows = torch.rand(2, 12, 16, generator=torch.Generator().manual_seed(2)) * 1e-4 + 1e-6
    fused = fuse_attention(rows.to(torch.bfloat16))
    product = rows.double().prod(dim=1)
    assert torch.isfinite(fused).all()
    expected = product.log().float()
    assert torch.allclose(fused, expected, atol=0.2)  # bf16 input rounding only
    assert torch.equal(fuse_attention(rows, layers=[0]), rows[:, 0].log())


def test_pixel_masking_sets_dropped_patches_to_zero() -> None:
    images = torch.randn(2, 3, 8, 8) + 5
    keep = torch.tensor([[True, False, False, True], [False, False, False, True]])
    masked = apply_pixel_mask(images, keep, (2, 2))
    assert torch.equal(masked[0, :, :4, :4], images[0, :, :4, :4])
    assert masked[0, :, :4, 4:].abs().sum() == 0
    assert masked[1, :, :4, :].abs().sum() == 0


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1])
def test_keep_ratio_out_of_range_is_refused(ratio: float) -> None:
    with pytest.raises(ValueError):
        num_kept(196, ratio)
