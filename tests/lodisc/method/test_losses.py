import math

import torch

from lodisc.method.losses import info_nce


def naive_info_nce(q: torch.Tensor, k: torch.Tensor, t: float) -> float:
    """Row by row: -log softmax of the positive, averaged, times 2T."""
    total = 0.0
    for i in range(q.shape[0]):
        qi = q[i] / q[i].norm()
        logits = [float(qi @ (k[j] / k[j].norm())) / t for j in range(k.shape[0])]
        top = max(logits)
        log_z = top + math.log(sum(math.exp(v - top) for v in logits))
        total += log_z - logits[i]
    return total / q.shape[0] * 2 * t


def test_info_nce_equals_naive_reference() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(7, 5, generator=gen), torch.randn(7, 5, generator=gen)
    assert math.isclose(float(info_nce(q, k, 0.2)), naive_info_nce(q, k, 0.2), rel_tol=1e-5)


def test_info_nce_is_low_for_matching_pairs_and_has_gradient() -> None:
    keys = torch.eye(8) * 3
    queries = keys.clone().requires_grad_(True)
    matched = info_nce(queries, keys, 0.2)
    shuffled = info_nce(queries, keys.roll(1, dims=0), 0.2)
    assert matched.item() < 0.05 < 1.0 < shuffled.item()
    matched.backward()
    assert queries.grad is not None
