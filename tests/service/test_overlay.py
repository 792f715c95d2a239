"""Overlays: the fused map equals lodisc.method.masking, geometry follows the model's crop, correspondences
equal a naive loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lodisc.inference.image_preprocess import crop_box
from lodisc.inference.pivotal import pivotal_map, pivotal_scores, top_pivotal
from lodisc.method.masking import fuse_attention
from service.overlay import (
    COLORMAP,
    find_correspondences,
    heat_canvas,
    render_overlay,
)

SPEC = {"img_size": 32, "resize": 32, "mean": [0.5] * 3, "std": [0.5] * 3}


def test_pivotal_scores_equal_lodisc_fuse_attention() -> None:
    rows = np.random.default_rng(0).dirichlet(np.ones(16), size=(3, 4)).astype(np.float32)
    expected = fuse_attention(torch.from_numpy(rows)).numpy()  # (B, N)
    np.testing.assert_allclose(pivotal_scores(rows), expected, rtol=1e-5)


def test_pivotal_map_is_a_normalised_grid() -> None:
    rows = np.random.default_rng(1).dirichlet(np.ones(12), size=4)
    heat = pivotal_map(rows, (3, 4))
    assert heat.shape == (3, 4) and heat.min() == 0.0 and heat.max() == 1.0
    assert np.all(pivotal_map(np.full((4, 12), 1 / 12), (3, 4)) == 0.0)  # flat: no NaN


def test_heat_canvas_covers_exactly_the_model_crop() -> None:
    spec = {**SPEC, "resize": 36}  # resize 36 then centre-crop 32: a margin on every side
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0  # top-left patch
    canvas = heat_canvas(heat, (90, 60), spec)  # (H, W) = (60, 90)
    left, top, right, bottom = (int(round(v)) for v in crop_box(90, 60, spec))
    inside = canvas >= 0
    rows, cols = np.nonzero(inside)
    assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (left, top, right, bottom)
    peak_row, peak_col = np.unravel_index(np.argmax(canvas), canvas.shape)
    assert peak_col < left + (right - left) / 4 and peak_row < top + (bottom - top) / 4


def test_render_overlay_keeps_size_and_scales_down_large_images() -> None:
    image = Image.new("RGB", (50, 30), "gray")
    heat = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    assert render_overlay(image, heat, SPEC, 0.5, 1024).size == (50, 30)
    assert render_overlay(Image.new("RGB", (3000, 1500)), heat, SPEC, 0.5, 600).size == (600, 300)


def test_colormap_runs_dark_to_bright() -> None:
    luma = COLORMAP.astype(float) @ [0.299, 0.587, 0.114]
    assert COLORMAP.shape == (256, 3) and np.all(np.diff(luma) >= -1)


def test_correspondences_equal_a_naive_loop() -> None:
    rng = np.random.default_rng(2)
    query, hit = rng.normal(size=(12, 8)), rng.normal(size=(12, 8))
    heat = rng.random((3, 4)).astype(np.float32)
    got = find_correspondences(query, heat, hit, top=5)
    unit_q = query / np.linalg.norm(query, axis=1, keepdims=True)
    unit_h = hit / np.linalg.norm(hit, axis=1, keepdims=True)
    order = sorted(range(12), key=lambda i: -heat.ravel()[i])[:5]
    for pair, q in zip(got, order, strict=True):
        scores = [float(unit_q[q] @ unit_h[h]) for h in range(12)]
        best = int(np.argmax(scores))
        assert pair.query_patch == (q // 4, q % 4)
        assert pair.hit_patch == (best // 4, best % 4)
        assert pair.score == pytest.approx(scores[best], abs=1e-5)


def test_top_pivotal_ranks_like_the_fused_scores() -> None:
    rows = np.random.default_rng(1).dirichlet(np.ones(12), size=(2, 3)).astype(np.float32)
    top = top_pivotal(rows, 4)  # (2, 4)
    expected = np.argsort(-fuse_attention(torch.from_numpy(rows)).numpy(), axis=1)[:, :4]
    np.testing.assert_array_equal(top, expected)
