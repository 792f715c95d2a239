"""Query-dependent explanations: which patches drive *this* match, and a local (MaxSim) score.

Every query patch ``t`` is matched against every hit patch ``j`` by cosine ``s_tj``:

    hit match map [j]    = max_t p_t * relu(s_tj)      matched by a pivotal query patch
    query match map [t]  = p_t * max_j relu(s_tj)      the query's pivotal patches found in the hit
    local_score          = sum_{t in P} w_t * max_j s_tj   (MaxSim of the pivotal patches P)

where ``p_t`` is the query's pivotal map (fused CLS attention, in [0, 1]) and ``P`` its top
``keep_ratio`` patches with weights ``w_t`` (their pivotal scores, summing to 1), the patches the
LoDisc local branch trains on. Maps are min-max scaled to [0, 1]. Of the variants tried on the
demo set (bench/explanations.py), this hit map removed the similarity fastest in the deletion test;
a pivotal-weighted sum spread over hit patches (softmax) did worse on both measures. Everything is
vectorised over hits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lodisc.index_format.vectors import normalise


@dataclass(frozen=True)
class MatchExplanation:
    """One hit's query-dependent maps on the (rows, cols) grid, in [0, 1], and its local score."""

    hit_map: np.ndarray  # (rows, cols)
    query_map: np.ndarray  # (rows, cols)
    local_score: float


def pivotal_weights(query_heat: np.ndarray, keep_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (T,) of the query's top ``keep_ratio`` patches by pivotal heat, and their weights
    (T,) summing to 1 (a flat map gives equal weights)."""
    flat = query_heat.ravel().astype(np.float64)
    count = max(1, int(round(keep_ratio * flat.size)))
    order = np.argsort(-flat, kind="stable")[:count]
    weights = flat[order] + 1e-6
    return order, (weights / weights.sum()).astype(np.float32)


def _unit_scale(values: np.ndarray) -> np.ndarray:
    """Min-max scale each row of (K, N) to [0, 1] (a flat row becomes zeros)."""
    low = values.min(axis=1, keepdims=True)
    span = values.max(axis=1, keepdims=True) - low
    return np.where(span > 0, (values - low) / np.maximum(span, 1e-12), 0.0).astype(np.float32)


def local_scores(
    query_patches: np.ndarray, query_heat: np.ndarray, hit_patches: np.ndarray, keep_ratio: float
) -> np.ndarray:
    """MaxSim of the query's pivotal patches against each hit's patches.

    Args:
        query_patches: (N, D) query patch tokens.
        query_heat: (rows, cols) query pivotal map.
        hit_patches: (K, M, D) L2-normalised patch tokens of K hits (M patches each: their
            stored pivotal tokens, which the indexer normalises; not normalised again here).
        keep_ratio: share of the query's patches matched.

    Returns:
        (K,) float32 scores in [-1, 1].
    """
    order, weights = pivotal_weights(query_heat, keep_ratio)
    queries = normalise(query_patches[order])  # (T, D)
    count, per_hit, dim = hit_patches.shape
    hits = hit_patches.reshape(-1, dim)  # (K * M, D), unit rows as the index stores them
    # One matrix product (BLAS) rather than an einsum: the re-ranking cost is this line.
    best = (queries @ hits.T).reshape(len(order), count, per_hit).max(axis=2)  # (T, K)
    return (weights @ best).astype(np.float32)


def explain_matches(
    query_patches: np.ndarray, query_heat: np.ndarray, hit_patches: np.ndarray, keep_ratio: float
) -> list[MatchExplanation]:
    """Match maps on the hit and on the query, for each of K hits.

    Args:
        query_patches: (N, D) query patch tokens.
        query_heat: (rows, cols) query pivotal map (N = rows * cols).
        hit_patches: (K, N, D) patch tokens of the hits, on the same grid.
        keep_ratio: share of the query's patches in the local score (LoDisc's keep ratio).

    Returns:
        K explanations, in hit order.
    """
    grid = query_heat.shape
    order, weights = pivotal_weights(query_heat, keep_ratio)  # (T,), (T,)
    queries = normalise(query_patches)  # (N, D)
    hits = hit_patches / np.maximum(np.linalg.norm(hit_patches, axis=-1, keepdims=True), 1e-12)
    count, per_hit, dim = hits.shape
    flat = (queries @ hits.reshape(-1, dim).T.astype(np.float32)).reshape(-1, count, per_hit)
    similarity = flat.transpose(1, 0, 2)  # (K, N, M): one matrix product, not an einsum
    pivotal = query_heat.reshape(1, -1, 1).astype(np.float32)  # (1, N, 1) in [0, 1]
    covered = np.maximum(similarity, 0.0)
    hit_maps = _unit_scale((pivotal * covered).max(axis=1))  # (K, M)
    query_maps = _unit_scale(pivotal[..., 0] * covered.max(axis=2))  # (K, N)
    scores = similarity[:, order].max(axis=2) @ weights  # (K,)
    return [
        MatchExplanation(h.reshape(grid), q.reshape(grid), float(s))
        for h, q, s in zip(hit_maps, query_maps, scores, strict=True)
    ]
