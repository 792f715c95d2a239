"""Which hits a search returns and in what order: filters, paging, re-ranking by pivotal tokens.

Re-ranking (``LODISC_RERANK``) re-scores the top R candidates of the index search by
``(1 - w) * global + w * local``, the local score being the MaxSim of the query's pivotal patch
tokens against each candidate's stored ones (:mod:`lodisc.inference.matching`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lodisc.index_format.pivotal_tokens import PivotalTokens
from lodisc.inference.matching import local_scores
from service.search_outcome import Explanation, Hit


@dataclass(frozen=True)
class Filter:
    """Which hits a search returns: only one label's items, only those scoring at least
    ``min_score`` (fewer than k where too few do), and from which rank on."""

    label: str | None = None
    offset: int = 0
    min_score: float | None = None

    def keeps(self, score: float) -> bool:
        """Whether a hit of this (final) score passes the score threshold."""
        return self.min_score is None or score >= self.min_score


NO_FILTER = Filter()


@dataclass(frozen=True)
class Reranker:
    """Re-ranking settings and the stored tokens it reads."""

    tokens: PivotalTokens
    candidates: int  # R
    weight: float  # w
    keep_ratio: float  # share of the query's patches in the local score

    def rerank(self, query: Explanation, hits: list[Hit]) -> list[Hit]:
        """Hits re-scored and sorted, best first (their cosine kept as ``global_score``)."""
        if not hits:
            return hits
        stored = self.tokens.of(np.array([h.id for h in hits], dtype=np.int64))  # (R, T, D)
        local = local_scores(query.patches, query.heat, stored, self.keep_ratio)  # (R,)
        cosines = np.array([h.score for h in hits], dtype=np.float32)
        combined = (1.0 - self.weight) * cosines + self.weight * local
        order = np.argsort(-combined, kind="stable")
        return [
            replace(hits[i], score=float(combined[i]), global_score=hits[i].score) for i in order
        ]


def pivotal_query_tokens(query: Explanation, count: int) -> np.ndarray:
    """The query's ``count`` most pivotal patch tokens (T, D), as the index stores them."""
    order = np.argsort(-query.heat.ravel(), kind="stable")[:count]
    return query.patches[order]
