"""Clustered embedding-like vectors for vector-index benchmarks (recall depends on the data).

Mixtures of class centres on the unit sphere (see ``DATASETS``). "fine": classes nested in groups
(genera) around a shared direction, so random pairs have cosine ~0.15, same-group ~0.4, same-class
~0.7, and each class varies in its own rank-16 subspace plus small isotropic noise: a nearest
neighbour at cosine ~0.85-0.9, like fine-grained embeddings. "isotropic": plain Gaussian clusters in
all dimensions, where every in-class distance is about equal (no low-dimensional structure): a worst
case for approximate nearest-neighbour search.
"""

from __future__ import annotations

import math

import numpy as np

from lodisc.index_format.vectors import normalise

DATASETS: dict[str, dict[str, float]] = {
    "fine": {"centres": 2000, "groups": 50, "shared": 0.4, "group_w": 0.6, "class_w": 0.6,
             "rank": 16, "spread": 0.6, "noise": 0.15},
    "isotropic": {"centres": 2000, "groups": 0, "shared": 0.0, "group_w": 0.0, "class_w": 1.0,
                  "rank": 0, "spread": 0.0, "noise": 0.7},
}  # fmt: skip
MIXTURE_SEED = 12345  # the mixture itself: the same for data and queries
CHUNK = 65536  # rows added to their centres at a time (bounds the temporary copy)


def clustered_vectors(n: int, dim: int, spec: dict[str, float], seed: int) -> np.ndarray:
    """``n`` draws from the fixed mixture ``spec`` (one of ``DATASETS``).

    Args:
        n: number of vectors.
        dim: their width.
        spec: the mixture's parameters.
        seed: which draws (the mixture does not depend on it).

    Returns:
        (n, dim) float32, not normalised.
    """
    model = np.random.default_rng(MIXTURE_SEED)

    def units(count: int) -> np.ndarray:
        return normalise(model.standard_normal((count, dim), dtype=np.float32))

    count, groups, rank = int(spec["centres"]), int(spec["groups"]), int(spec["rank"])
    centres = spec["class_w"] * units(count)
    centres += spec["shared"] * units(1)
    if groups:
        centres += spec["group_w"] * units(groups)[np.arange(count) % groups]
    centres = normalise(centres)
    basis = model.standard_normal((count, rank, dim), dtype=np.float32) / math.sqrt(dim)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, count, n)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= spec["noise"] / math.sqrt(dim)
    for start in range(0, n, CHUNK):
        x[start : start + CHUNK] += centres[labels[start : start + CHUNK]]
    if rank:
        z = rng.standard_normal((n, rank), dtype=np.float32) * (spec["spread"] / math.sqrt(rank))
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(count + 1))
        for c in range(count):  # one matrix product per class, not per row
            rows = order[bounds[c] : bounds[c + 1]]
            if len(rows):
                x[rows] += z[rows] @ basis[c]
    return x
