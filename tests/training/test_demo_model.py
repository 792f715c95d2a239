"""The shipped demo model retrieves the demo gallery by class (its model card's claim)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lodisc.checkpoint import load_encoder
from lodisc.data.image_folders import list_images
from lodisc.data.synthetic import generate_dataset
from lodisc.evaluation.embed import embed_images, make_eval_loader
from lodisc.evaluation.eval_transform import eval_transform
from lodisc.evaluation.retrieval_metrics import chance_map, retrieval_metrics

DEMO_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "demo" / "checkpoint.pt"
# The shipped model scores Rank-1 0.972, mAP 0.694 (8.9x chance) on this gallery (its model card);
# an untrained network of its shape 0.300 and 0.153. The previous demo model (0.739, 7.0x) fails.
MIN_MAP_OVER_CHANCE = 8.0
MIN_RANK1 = 0.9


@pytest.mark.skipif(not DEMO_CHECKPOINT.is_file(), reason="no demo model in this checkout")
def test_demo_model_retrieves_the_demo_gallery_by_class(tmp_path: Path) -> None:
    """The gallery `make demo` indexes: the easy set's 180 test images (seed 0, 64 px)."""
    device = torch.device("cpu")
    encoder, cfg = load_encoder(DEMO_CHECKPOINT, device)
    data = generate_dataset(
        tmp_path / "easy", classes=12, per_class=1, size=64, seed=0, test_per_class=15
    )
    gallery = list_images(data / "test")
    loader = make_eval_loader(gallery, eval_transform(cfg), batch_size=64, workers=0)
    features, labels = embed_images(encoder.eval(), loader, device)
    metrics = retrieval_metrics(features, labels)
    chance = chance_map(labels)
    assert metrics["mAP"] > MIN_MAP_OVER_CHANCE * chance, (metrics, chance)
    assert metrics["rank1"] > MIN_RANK1, metrics
