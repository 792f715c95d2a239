"""Scores with a meaning, calibrated per index from the gallery itself.

A cosine of 0.85 is a near-miss in one gallery and junk in another. What a gallery says about its
own scale is how similar each of its items is to its nearest *other* item: a query that belongs
to the gallery's domain scores like that; one that does not scores below nearly all of it. From a
sample of the gallery's items:

- ``confidence`` of a score is the share of gallery items whose nearest neighbour is less similar
  (the empirical CDF: 0.5 is a typical in-gallery match, 0.01 is lower than 99% of them);
- ``match`` is ``strong`` at or above the ``strong_quantile`` of those similarities, ``none``
  below the ``none_quantile`` minus ``none_margin``, ``weak`` in between;
- a hit at or above ``duplicate_score`` (or with the query's exact bytes) is a duplicate.
Where the gallery has labels, the predicted label is a similarity-weighted vote of the top hits.

The global score alone cannot tell a photograph from a synthetic image when the encoder maps both
to the same region (the demo model scores photos up to 0.95 against its synthetic gallery). What
does tell them apart is whether the query's *parts* occur in the gallery: the coverage of a query
is the mean, over its pivotal patch tokens, of the cosine to the nearest stored pivotal token of
the gallery (one matrix product with a sample of them: 0.4 ms a query, where a FAISS flat search
of the same 16 tokens took 1.4 ms on cold caches). Gallery items' own coverage (their nearest
token of another item) gives its scale; a query covered less than nearly all of them is ``none``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np

from lodisc.index_format.pivotal_tokens import PivotalTokens
from lodisc.index_format.published import PublishedIndex
from lodisc.index_format.vectors import normalise
from service.config import Settings

logger = logging.getLogger(__name__)

MatchGrade = Literal["strong", "weak", "none"]  # a hit's ``match`` in the answer


@dataclass(frozen=True)
class CalibrationOptions:
    """How an index's scores are calibrated (service settings)."""

    sample: int = 2000  # gallery items whose nearest neighbour is looked up at load
    none_quantile: float = 0.01  # below this quantile of in-gallery similarities (less margin)
    none_margin: float = 0.02  # cosine below that quantile still counted as weak
    strong_quantile: float = 0.25  # at or above this quantile: strong
    duplicate_score: float = 0.995  # cosine at or above which a hit is a (near) duplicate
    bank_tokens: int = 8192  # stored pivotal tokens searched for a query's coverage
    coverage_tokens: int = 16  # a query's most pivotal tokens looked up (the search's cost)
    coverage_items: int = 500  # gallery items whose own coverage sets the scale
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> CalibrationOptions:
        """The service's calibration settings."""
        return cls(
            sample=settings.calibration_sample,
            none_quantile=settings.none_quantile,
            none_margin=settings.none_margin,
            strong_quantile=settings.strong_quantile,
            duplicate_score=settings.duplicate_score,
        )


@dataclass(frozen=True)
class ScoreCalibration:
    """The gallery's nearest-neighbour similarities (sorted) and the thresholds drawn from them."""

    neighbour_scores: np.ndarray  # (S,) float32, ascending
    none_below: float
    strong_from: float
    duplicate_score: float
    coverage: TokenCoverage | None = None  # None: the index stores no pivotal tokens

    def confidence(self, scores: np.ndarray) -> np.ndarray:
        """Share of gallery items whose nearest neighbour is less similar than each score."""
        ranks = np.searchsorted(self.neighbour_scores, np.asarray(scores, np.float32), "right")
        return (ranks / max(1, len(self.neighbour_scores))).astype(np.float32)

    def match(self, score: float, covered: bool = True) -> MatchGrade:
        """``strong``, ``weak`` or ``none`` for one score of a query whose parts are (or are not)
        ``covered`` by the gallery."""
        if not covered or score < self.none_below:
            return "none"
        return "strong" if score >= self.strong_from else "weak"

    def describe(self) -> dict[str, float | int]:
        """Thresholds for /readyz."""
        return {
            "sampled_items": len(self.neighbour_scores),
            "none_below": round(self.none_below, 4),
            "strong_from": round(self.strong_from, 4),
            "duplicate_score": self.duplicate_score,
            "coverage_none_below": round(self.coverage.none_below, 4) if self.coverage else -1.0,
        }


def calibrate(published: PublishedIndex, options: CalibrationOptions) -> ScoreCalibration | None:
    """Nearest-neighbour similarities of a sample of the gallery's items (themselves excluded).

    Returns:
        None where the gallery has fewer than two items or its index cannot return stored
        vectors (answers then carry no ``match``).
    """
    ids = np.asarray(published.catalog.ids(), dtype=np.int64)
    if len(ids) < 2:
        return None
    rng = np.random.default_rng(options.seed)
    sample = np.sort(rng.choice(ids, size=min(options.sample, len(ids)), replace=False))
    try:
        vectors = published.index.index.reconstruct_batch(sample)  # (S, D)
    except RuntimeError as err:
        logger.warning("no score calibration: the index cannot return vectors (%s)", err)
        return None
    scores, found = published.index.search(vectors, 2)  # (S, 2): itself first, as a rule
    own = found == sample[:, None]
    nearest = np.where(own[:, 0], scores[:, 1], scores[:, 0])  # (S,)
    neighbour_scores = np.sort(nearest.astype(np.float32))
    none_below = float(np.quantile(neighbour_scores, options.none_quantile)) - options.none_margin
    strong_from = float(np.quantile(neighbour_scores, options.strong_quantile))
    coverage = None if published.tokens is None else token_coverage(published.tokens, options)
    return ScoreCalibration(
        neighbour_scores, none_below, strong_from, options.duplicate_score, coverage
    )


@dataclass(frozen=True)
class TokenCoverage:
    """A sample of the gallery's pivotal tokens, and the coverage below which a query's parts are
    foreign to the gallery."""

    bank: np.ndarray  # (D, M) float32 unit tokens, one per column (for one matrix product)
    none_below: float
    tokens: int = 16  # a query's most pivotal tokens that are looked up

    def of(self, query_tokens: np.ndarray) -> float:
        """Mean cosine of a query's most pivotal tokens ((T, D), most pivotal first) to their
        nearest gallery token."""
        unit = normalise(np.asarray(query_tokens[: self.tokens], np.float32))
        return float((unit @ self.bank).max(axis=1).mean())


def token_coverage(tokens: PivotalTokens, options: CalibrationOptions) -> TokenCoverage | None:
    """Bank of stored tokens and the gallery's own coverage scale (items against the others)."""
    count, per_item, dim = tokens.tokens.shape
    if count < 2:
        return None
    rng = np.random.default_rng(options.seed)
    bank_items = min(count, max(2, options.bank_tokens // per_item))
    items = np.sort(rng.choice(count, size=bank_items, replace=False))
    bank_tokens = normalise(np.asarray(tokens.tokens[items], np.float32).reshape(-1, dim))
    owners = np.repeat(items, per_item)  # (M,) item row of each bank token
    bank = faiss.IndexFlatIP(dim)  # the scale's own top-(T+1) search, at load only
    bank.add(bank_tokens)
    looked_up = min(per_item, options.coverage_tokens)  # stored most pivotal first, as queries
    probes = rng.choice(items, size=min(len(items), options.coverage_items), replace=False)
    probe = np.asarray(tokens.tokens[probes, :looked_up], np.float32).reshape(-1, dim)
    scores, found = bank.search(normalise(probe), per_item + 1)  # (P*t, T+1)
    foreign = owners[found] != np.repeat(probes, looked_up)[:, None]  # not the probe's own token
    first = foreign.argmax(axis=1)  # its nearest token of another item
    nearest = scores[np.arange(len(scores)), first].reshape(len(probes), looked_up).mean(axis=1)
    threshold = float(np.quantile(nearest, options.none_quantile)) - options.none_margin
    return TokenCoverage(np.ascontiguousarray(bank_tokens.T), threshold, looked_up)


def vote_label(labels: list[str], scores: np.ndarray) -> tuple[str, float] | None:
    """Similarity-weighted vote of the hits' labels: (label, share of the weight it won).

    Returns:
        None where the hits carry no labels.
    """
    if not labels or not any(labels):
        return None
    names, inverse = np.unique(np.asarray(labels), return_inverse=True)
    weights = np.bincount(inverse, weights=np.maximum(scores, 0.0) + 1e-6, minlength=len(names))
    best = int(weights.argmax())
    return str(names[best]), float(weights[best] / weights.sum())
