"""Self-retrieval on a real gallery (../shared/data/cars60/test): every image is its own top-1.

Skipped cleanly where the shared data is absent (a user's fresh clone).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.embedder import decoded_batches
from indexer.gallery_index import build_index
from lodisc.index_format.published import load_published
from lodisc.inference.onnx_encoder import OnnxEncoder

CARS = Path(__file__).resolve().parents[3] / "shared" / "data" / "cars60" / "test"


@pytest.mark.slow
@pytest.mark.skipif(not CARS.is_dir(), reason="../shared/data/cars60 not present")
def test_every_cars60_image_is_its_own_top1(tiny_onnx: Path, tmp_path: Path) -> None:
    summary = build_index(tiny_onnx, CARS, tmp_path / "idx", workers=2, batch_size=64)
    published = load_published(tmp_path / "idx")
    items, total = published.catalog.page(0, 10_000)
    assert total == summary["items"] > 1000
    encoder = OnnxEncoder(tiny_onnx)
    paths = [item.path for item in items]
    ids = np.array([item.id for item in items])
    found = []
    for indices, batch, failed in decoded_batches(CARS, paths, encoder.preprocessing, 64, 2):
        assert not failed
        scores, hits = published.index.search(encoder.run(batch).embedding, 5)
        own = hits == ids[indices][:, None]  # (B, 5)
        assert own.any(axis=1).all()
        # Its own vector scores 1 and nothing scores higher: it is the top-1, or tied with an
        # identical-looking image (the tiny random test model maps a few near-duplicates together).
        own_score = np.where(own, scores, -1.0).max(axis=1)
        assert np.allclose(own_score, 1.0, atol=1e-4)
        assert np.all(own_score >= scores[:, 0] - 1e-5)
        found.append(hits[:, 0] == ids[indices])
    strict = np.concatenate(found).mean()
    assert strict >= 0.98, f"only {strict:.3f} of images are strictly their own top-1"
