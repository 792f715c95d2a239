"""Does the overlay highlight the class-defining parts of the synthetic images?

The synthetic generator writes part masks (0 background, 1 body, 2+ part slots). The measure: the
share of the top-30% heatmap pixels (inside the model's crop) that fall on parts, against the
parts' base rate in the crop. A random-init or barely trained tiny model has no reason to look at
parts, so with the test model only the plumbing is checked (mask, image and heatmap aligned, and a
map made from the mask itself scores far above chance); the claim about a trained model is checked
on the shipped demo model (or the ONNX model ``LODISC_TEST_TRAINED_ONNX`` names).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lodisc.data.synthetic import generate_dataset, load_part_mask
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.onnx_encoder import OnnxEncoder
from lodisc.inference.pivotal import pivotal_map
from service.overlay import heat_canvas

TOP_FRACTION = 0.30
PARTS_GOAL = 2.0  # the trained model's share of heat on parts, as a multiple of the base rate


def part_overlap(canvas: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(share of the top-30% heat pixels on parts, share of crop pixels on parts)."""
    inside = canvas >= 0  # (H, W) the model's crop
    parts = mask >= 2
    values = canvas[inside]
    threshold = np.quantile(values, 1.0 - TOP_FRACTION)
    top = inside & (canvas >= threshold)
    return float(parts[top].mean()), float(parts[inside].mean())


def mask_attention(mask: np.ndarray, grid: tuple[int, int], layers: int = 3) -> np.ndarray:
    """(L, N) CLS rows that attend to each patch in proportion to its part coverage."""
    rows, cols = grid
    height, width = mask.shape
    cover = (mask >= 2).reshape(rows, height // rows, cols, width // cols).mean(axis=(1, 3))
    weights = cover.ravel() + 1e-3
    return np.repeat((weights / weights.sum())[None], layers, axis=0)


def test_masks_align_with_images_and_a_mask_derived_map_scores_high(
    gallery_files: list[Path],
) -> None:
    spec = {"img_size": 32, "resize": 32}
    ratios = []
    for path in gallery_files:
        mask = load_part_mask(path)
        with Image.open(path) as image:
            assert mask.shape == (image.height, image.width)
        canvas = heat_canvas(pivotal_map(mask_attention(mask, (4, 4)), (4, 4)), (32, 32), spec)
        on_parts, base = part_overlap(canvas, mask)
        ratios.append(on_parts / max(base, 1e-6))
    assert np.median(ratios) > 1.5


def overlap_ratio(model: Path, image_paths: list[Path]) -> tuple[float, float]:
    """Mean share of top-30% heat pixels on parts, and the mean base rate, for a model."""
    encoder = OnnxEncoder(model, "cpu")
    images = [Image.open(p).convert("RGB") for p in image_paths]
    out = encoder.run(preprocess_batch(images, encoder.preprocessing), explain=True)
    assert out.cls_attention is not None
    shares, bases = [], []
    for path, image, rows in zip(image_paths, images, out.cls_attention, strict=True):
        heat = pivotal_map(rows, encoder.grid_size)
        canvas = heat_canvas(heat, image.size, encoder.preprocessing)
        share, base = part_overlap(canvas, load_part_mask(path))
        shares.append(share)
        bases.append(base)
    return float(np.mean(shares)), float(np.mean(bases))


def test_overlap_of_the_served_model_is_measured(
    service_model: Path, gallery_files: list[Path]
) -> None:
    share, base = overlap_ratio(service_model, gallery_files)
    print(f"random-init tiny model: top-30% heat on parts {share:.3f}, base rate {base:.3f}")
    assert 0.0 <= share <= 1.0 and 0.0 < base < 1.0


def test_trained_model_highlights_parts_more_than_chance(demo_onnx: Path, tmp_path: Path) -> None:
    """Images the model never saw (another seed): the heat sits on the parts, not the background."""
    size = OnnxEncoder(demo_onnx, "cpu").img_size
    data = generate_dataset(
        tmp_path / "synthetic", classes=12, per_class=1, size=size, seed=7, test_per_class=4
    )
    share, base = overlap_ratio(demo_onnx, sorted((data / "test").rglob("*.png")))
    print(f"trained model: top-30% heat on parts {share:.3f}, base rate {base:.3f}")
    assert share > PARTS_GOAL * base, f"top-30% heat on parts {share:.3f} vs base rate {base:.3f}"
