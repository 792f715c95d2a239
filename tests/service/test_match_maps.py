"""Match maps are measured, not decorative: part contrast and the deletion test on the demo set.

On pairs of synthetic classes that share some part slots and differ in others, the hit's match map
must put more heat on the shared parts; blanking a hit's patches in the order of its match map must
lower its similarity to the query faster than random orders (a smaller area under the curve). The
demo model's grid is 4 x 4 at 64 px, so a patch holds body and part together: the part contrast is
small there (bench/RESULTS.md, section ``explanations``), the deletion gap large.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lodisc.evaluation.explanation_metrics import (
    area_under,
    blank_patches,
    heat_on,
    patch_coverage,
)
from lodisc.evaluation.explanation_study import run_study
from lodisc.inference.matching import explain_matches, local_scores

DELETION_MARGIN = 0.15  # match-map area at least this far under the random orders' area


def test_blank_patches_removes_patches_in_order() -> None:
    image = np.ones((3, 8, 8), dtype=np.float32)
    out = blank_patches(image, np.array([3, 0, 1, 2]), (2, 2), np.array([0, 1, 2]))
    assert out.shape == (3, 3, 8, 8) and out[0].min() == 1.0
    assert out[1, :, 4:, 4:].max() == 0.0 and out[1, :, :4, :].min() == 1.0  # patch 3 first
    assert out[2, :, :4, :4].max() == 0.0 and out[2, :, :4, 4:].min() == 1.0  # then patch 0


def test_coverage_heat_and_area() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2, :2] = True
    coverage = patch_coverage(mask, (2, 2))
    np.testing.assert_allclose(coverage, [[1.0, 0.0], [0.0, 0.0]])
    assert heat_on(np.array([[0.8, 0.1], [0.1, 0.1]]), coverage) == 0.8
    assert area_under(np.array([1.0, 0.0])) == 0.5


def test_maps_are_unit_scaled_and_an_identical_hit_matches_itself() -> None:
    rng = np.random.default_rng(0)
    query = rng.normal(size=(16, 8)).astype(np.float32)
    heat = rng.uniform(size=(4, 4)).astype(np.float32)
    other = rng.normal(size=(16, 8)).astype(np.float32)
    same, different = explain_matches(query, heat, np.stack([query, other]), 0.3)
    for match in (same, different):
        assert match.hit_map.shape == (4, 4) and match.query_map.shape == (4, 4)
        assert match.hit_map.min() == 0.0 and match.hit_map.max() == 1.0
    assert same.local_score > 0.999 > different.local_score
    unit = np.stack([query, other])
    unit /= np.linalg.norm(unit, axis=-1, keepdims=True)  # stored tokens are unit rows
    scores = local_scores(query, heat, unit, 0.3)
    np.testing.assert_allclose(scores, [same.local_score, different.local_score], rtol=1e-5)
    assert np.argmax(same.hit_map) == np.argmax(heat)  # the most pivotal patch finds itself


def test_demo_match_maps_favour_shared_parts_and_pass_the_deletion_test(
    demo_onnx: Path, demo_data: Path
) -> None:
    summary = run_study(demo_onnx, demo_data, per_pair=1, queries=30, random_orders=2).summary()
    print(summary)
    assert summary["pairs"] >= 30
    assert summary["heat_shared_parts"] > summary["heat_differing_parts"]
    random_area = summary["deletion_auc_random"]
    assert summary["deletion_auc_match_map"] < random_area - DELETION_MARGIN
    assert summary["deletion_auc_pivotal_map"] < random_area - DELETION_MARGIN
