"""Leave-one-out retrieval metrics (METHOD.md): Rank-K / Recall@K and mAP, vectorised and chunked."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_KS = (1, 2, 4, 5, 8)


def retrieval_metrics(
    embeddings: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | Sequence[int],
    ks: Sequence[int] = DEFAULT_KS,
    max_elements: int = 1 << 22,
) -> dict[str, float]:
    """Every item queries all others by cosine similarity.

    Queries whose class has no other item cannot retrieve anything relevant; they are left out of
    every metric and counted in ``queries_without_positives`` (the reference divides by zero there).

    Args:
        embeddings: (N, D) features (normalised here).
        labels: (N,) integer class labels.
        ks: cut-offs for Rank-K (= Recall@K: a relevant item within the top K).
        max_elements: similarity entries per chunk; bounds memory (rows per chunk = this / N).

    Returns:
        ``rank1``, ``rank5``, ``mAP`` and ``recall@K`` as fractions, plus query counts.
    """
    feats = F.normalize(torch.as_tensor(np.asarray(embeddings), dtype=torch.float32), dim=1)
    count = feats.shape[0]
    rows = max(1, max_elements // max(1, count))
    return _chunked_metrics(lambda start, stop: feats[start:stop] @ feats.T, labels, ks, rows)


def similarity_metrics(
    similarity: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | Sequence[int],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """The metrics of :func:`retrieval_metrics` from a given (N, N) similarity matrix (e.g. scores
    after re-ranking); the diagonal is ignored."""
    sim = torch.as_tensor(np.asarray(similarity), dtype=torch.float32)
    rows = max(1, (1 << 22) // max(1, sim.shape[0]))
    return _chunked_metrics(lambda start, stop: sim[start:stop].clone(), labels, ks, rows)


def _chunked_metrics(
    chunk: Callable[[int, int], torch.Tensor],
    labels: np.ndarray | torch.Tensor | Sequence[int],
    ks: Sequence[int],
    rows: int,
) -> dict[str, float]:
    """Rank-K and mAP over query rows ``chunk(start, stop)`` (c, N) of similarities."""
    target = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    count = target.shape[0]
    if count < 2:
        raise ValueError("retrieval needs at least two items")
    positives = torch.bincount(target)[target] - 1  # (N,) other items of the same class
    valid = positives > 0
    most = max(1, int(positives.max()))
    hits = torch.zeros(len(ks), dtype=torch.float64)
    ap_sum = 0.0
    order = torch.arange(1, most + 1, dtype=torch.float32)  # j: the j-th relevant item
    for start in range(0, count, rows):
        stop = min(count, start + rows)
        sim = chunk(start, stop)  # (c, N)
        relevant = target[None, :] == target[start:stop, None]
        ranks, rel_sims = _relevant_ranks(sim, relevant, start, order)
        present = torch.isfinite(rel_sims)
        keep = valid[start:stop]
        for j, k in enumerate(ks):
            hits[j] += (ranks[keep, 0] <= k).sum()
        ap = torch.where(present, order / ranks, 0.0).sum(dim=1) / positives[start:stop].clamp_min(
            1
        )
        ap_sum += float(ap[keep].sum())
    n_valid = int(valid.sum())
    result = {f"recall@{k}": float(hits[j]) / max(1, n_valid) for j, k in enumerate(ks)}
    result["rank1"] = result.get("recall@1", float("nan"))
    result["rank5"] = result.get("recall@5", float("nan"))
    result["mAP"] = ap_sum / max(1, n_valid)
    result["queries"] = float(n_valid)
    result["queries_without_positives"] = float(count - n_valid)
    return result


def _relevant_ranks(
    sim: torch.Tensor, relevant: torch.Tensor, start: int, order: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """1-based ranks of each query's relevant items, best first, without sorting whole rows.

    rank_j = j + (irrelevant items scoring above the j-th relevant one). Each item is binned
    against the row's few relevant scores (a batched binary search), and per-bin counts give
    every "above" count at once: O(N log P) per row instead of a full O(N log N) sort.
    ``order`` is 1..P (P: the most relevant items of any query). ``sim`` and ``relevant`` are
    modified: the query itself is neither relevant nor ranked.
    """
    most = len(order)
    rows = torch.arange(sim.shape[0])
    sim[rows, rows + start] = -torch.inf
    relevant[rows, rows + start] = False
    rel_sims = sim.masked_fill(~relevant, -torch.inf).topk(most, dim=1).values  # (c, P) desc.
    ascending = rel_sims.flip(1).contiguous()
    # bin b: the item beats exactly the b lowest relevant scores (ties do not beat); the histogram
    # counts the irrelevant items per bin.
    bins = torch.searchsorted(ascending, sim)  # (c, N) in [0, P]
    hist = torch.zeros(sim.shape[0], most + 1).scatter_add_(1, bins, (~relevant).float())
    # Irrelevant items above the i-th best relevant score: those in bins P-i..P.
    above = hist.flip(1).cumsum(1)[:, :most]
    return order + above, rel_sims


def chance_map(labels: np.ndarray | Sequence[int]) -> float:
    """Expected mAP of a random ranking: about the share of relevant items per query."""
    target = np.asarray(labels)
    counts = np.bincount(target)[target] - 1
    valid = counts > 0
    return float(np.mean(counts[valid] / (len(target) - 1))) if valid.any() else 0.0
