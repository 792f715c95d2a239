"""Query-dependent explanations: which patches drive *this* match, and a local (MaxSim) score.

The query's pivotal patches (its top ``keep_ratio`` by the fused CLS attention, the patches the
LoDisc local branch trains on) are matched against every patch of a hit. Each pivotal query patch
``t`` has a weight ``w_t`` (its pivotal score, normalised to sum 1) and a best hit patch
(MaxSim, as in late-interaction retrieval):

    local_score            = sum_t w_t * max_j cos(q_t, h_j)
    query match map [t]    = w_t * relu(max_j cos(q_t, h_j))          (0 off the pivotal patches)
    hit match map [j]      = sum_t w_t * relu(cos(q_t, h_j)) * softmax_j(cos(q_t, h_.) / tau)

so a hit patch is hot when pivotal query patches match it well and better than the hit's other
patches. Both maps are scaled to [0, 1] by their maximum. Everything is vectorised over hits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lodisc.index_format.vectors import normalise

MATCH_TEMPERATURE = 0.1  # softmax temperature spreading a query patch's match over hit patches


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
    """Scale each row of (K, N) to [0, 1] by its maximum (an all-zero row stays zero)."""
    peak = values.max(axis=1, keepdims=True)
    return np.where(peak > 0, values / np.maximum(peak, 1e-12), 0.0).astype(np.float32)


def local_scores(
    query_patches: np.ndarray, query_heat: np.ndarray, hit_patches: np.ndarray, keep_ratio: float
) -> np.ndarray:
    """MaxSim of the query's pivotal patches against each hit's patches.

    Args:
        query_patches: (N, D) query patch tokens.
        query_heat: (rows, cols) query pivotal map.
        hit_patches: (K, M, D) patch tokens of K hits (M patches each, e.g. their stored pivotal
            tokens or all of them).
        keep_ratio: share of the query's patches matched.

    Returns:
        (K,) float32 scores in [-1, 1].
    """
    order, weights = pivotal_weights(query_heat, keep_ratio)
    queries = normalise(query_patches[order])  # (T, D)
    hits = hit_patches / np.maximum(np.linalg.norm(hit_patches, axis=-1, keepdims=True), 1e-12)
    best = np.einsum("td,kmd->ktm", queries, hits.astype(np.float32)).max(axis=2)  # (K, T)
    return (best @ weights).astype(np.float32)


def explain_matches(
    query_patches: np.ndarray, query_heat: np.ndarray, hit_patches: np.ndarray, keep_ratio: float
) -> list[MatchExplanation]:
    """Match maps on the hit and on the query, for each of K hits.

    Args:
        query_patches: (N, D) query patch tokens.
        query_heat: (rows, cols) query pivotal map (N = rows * cols).
        hit_patches: (K, N, D) patch tokens of the hits, on the same grid.
        keep_ratio: share of the query's patches matched (LoDisc's keep ratio).

    Returns:
        K explanations, in hit order.
    """
    grid = query_heat.shape
    order, weights = pivotal_weights(query_heat, keep_ratio)  # (T,), (T,)
    queries = normalise(query_patches[order])  # (T, D)
    hits = hit_patches / np.maximum(np.linalg.norm(hit_patches, axis=-1, keepdims=True), 1e-12)
    similarity = np.einsum("td,knd->ktn", queries, hits.astype(np.float32))  # (K, T, N)
    best = similarity.max(axis=2)  # (K, T)
    logits = similarity / MATCH_TEMPERATURE
    share = np.exp(logits - logits.max(axis=2, keepdims=True))
    share /= share.sum(axis=2, keepdims=True)  # (K, T, N)
    hit_heat = np.einsum("t,ktn->kn", weights, np.maximum(similarity, 0.0) * share)  # (K, N)
    query_heat_k = np.zeros((len(hits), grid[0] * grid[1]), dtype=np.float32)  # (K, N)
    query_heat_k[:, order] = weights[None, :] * np.maximum(best, 0.0)
    hit_maps, query_maps = _unit_scale(hit_heat), _unit_scale(query_heat_k)
    scores = best @ weights  # (K,)
    return [
        MatchExplanation(h.reshape(grid), q.reshape(grid), float(s))
        for h, q, s in zip(hit_maps, query_maps, scores, strict=True)
    ]
