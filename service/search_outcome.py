"""Plain results of the searcher (the routers turn them into response models)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lodisc.index_format.catalog import Item
from lodisc.inference.matching import MatchExplanation
from service.overlay import Correspondence


@dataclass(frozen=True)
class Explanation:
    """Encoder outputs an overlay needs for one image."""

    embedding: np.ndarray  # (D,) L2-normalised
    heat: np.ndarray  # (rows, cols) pivotal-region map in [0, 1]
    patches: np.ndarray  # (N, D) patch tokens


@dataclass(frozen=True)
class Hit:
    """One search result: id, cosine similarity and catalog entry."""

    id: int
    score: float  # the ranking score: global cosine, or the re-ranked combination
    item: Item
    global_score: float | None = None  # the cosine before re-ranking (None: not re-ranked)

    @property
    def cosine(self) -> float:
        """The global cosine similarity (what the calibration is on)."""
        return self.score if self.global_score is None else self.global_score


@dataclass
class HitResult:
    """A hit and, when explained, its correspondences and (inline) overlay PNG."""

    hit: Hit
    correspondences: list[Correspondence] | None = None
    overlay_png: bytes | None = None
    match: MatchExplanation | None = None  # query-dependent maps, when explained


@dataclass
class QueryResult:
    """The hits of one query image and, when explained, its own overlay PNG."""

    hits: list[HitResult]
    overlay_png: bytes | None = None
    explained: bool = False  # explanations were asked for (grid and crop boxes are reported)
    image_size: tuple[int, int] | None = None  # (width, height) of an uploaded query image
    sha256: str | None = None  # of an uploaded query's bytes (exact duplicates)
    coverage: float | None = None  # how well the gallery's pivotal tokens cover the query's
    covered: bool = True  # False: the query's parts are foreign to this gallery
    error: str | None = None  # a batch image that could not be used, and why
    error_status: int | None = None  # the HTTP status a single upload would have got


@dataclass
class SearchOutcome:
    """Results per query and milliseconds per stage (decode, embed, search, explain)."""

    queries: list[QueryResult]
    timings_ms: dict[str, float] = field(default_factory=dict)
