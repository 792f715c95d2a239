"""MoCo v3 InfoNCE with keys gathered across ranks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lodisc.runtime import gather_cat, rank


def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """Contrastive loss of MoCo v3: positives on the diagonal, negatives = other keys of the batch.

    Args:
        queries: (B, D) student outputs on this rank (with gradient).
        keys: (B, D) teacher outputs on this rank (no gradient); gathered over all ranks.
        temperature: softmax temperature T (0.2 in LoDisc).

    Returns:
        Scalar loss, scaled by ``2 T`` as in MoCo v3.
    """
    queries = F.normalize(queries.float(), dim=1)
    keys = F.normalize(keys.float(), dim=1)
    all_keys = gather_cat(keys)  # (world * B, D)
    logits = queries @ all_keys.T / temperature  # (B, world * B)
    labels = torch.arange(queries.shape[0], device=queries.device) + queries.shape[0] * rank()
    return F.cross_entropy(logits, labels) * (2.0 * temperature)
