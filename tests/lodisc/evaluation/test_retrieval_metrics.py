import numpy as np
import pytest

from lodisc.evaluation.retrieval_metrics import chance_map, retrieval_metrics
from tests.oracles.reference_loops import loop_retrieval


def _embeddings(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, 16))
    feats = centres[labels] + rng.normal(scale=1.5, size=(n, 16))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    return feats.astype(np.float32), labels


@pytest.mark.parametrize("max_elements", [1 << 24, 997])
def test_metrics_equal_the_loop_including_a_single_image_class(max_elements: int) -> None:
    feats, labels = _embeddings(240, 9, seed=0)
    labels[5] = 42  # a class with one image: no relevant item, must not divide by zero
    want = loop_retrieval(feats, labels, (1, 2, 4, 5, 8))
    got = retrieval_metrics(feats, labels, max_elements=max_elements)
    for k in (1, 2, 4, 5, 8):
        assert got[f"recall@{k}"] == pytest.approx(want[f"recall@{k}"], abs=1e-12)
    assert got["mAP"] == pytest.approx(want["mAP"], abs=1e-6)
    assert got["rank1"] == got["recall@1"] and got["rank5"] == got["recall@5"]
    assert got["queries_without_positives"] == 1 and got["queries"] == 239


def test_perfect_and_random_rankings() -> None:
    labels = np.repeat(np.arange(5), 6)
    perfect = np.eye(5)[labels].astype(np.float32)
    result = retrieval_metrics(
        perfect + 1e-3 * np.random.default_rng(0).random(perfect.shape), labels
    )
    assert result["rank1"] == 1.0 and result["mAP"] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 2000)
    random = retrieval_metrics(rng.normal(size=(2000, 32)), labels)
    assert random["mAP"] == pytest.approx(chance_map(labels), abs=0.02)
    assert random["rank1"] == pytest.approx(0.1, abs=0.03)


def test_single_item_is_refused() -> None:
    with pytest.raises(ValueError):
        retrieval_metrics(np.ones((1, 4)), [0])
