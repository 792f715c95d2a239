"""Where a search request goes: the ONNX encoder and the published index behind one object.

No web framework here: :class:`Searcher` takes upload bytes or gallery ids and returns plain
dataclasses (``service/search_outcome.py``), so it is unit-testable without HTTP. What is shown
besides the hits (overlays, correspondences, match maps) is ``service/explainer.py``'s.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from PIL import Image

from lodisc.hashing import file_sha256
from lodisc.index_format.published import PublishedIndex, load_published
from lodisc.inference.image_preprocess import preprocess_image
from lodisc.inference.onnx_encoder import OnnxEncoder
from service.batcher import MicroBatcher
from service.calibration import CalibrationOptions, ScoreCalibration, calibrate
from service.compatibility import VERSION_CHARS, check_compatible
from service.config import Settings
from service.explainer import ENCODE_TIMEOUT_S, Explainer
from service.gallery_items import Gallery
from service.images import ImageInputError, crop_to_box, decode_uploads
from service.ranking import NO_FILTER, Filter, Reranker, pivotal_query_tokens
from service.search_outcome import Explanation, Hit, HitResult, QueryResult, SearchOutcome

logger = logging.getLogger(__name__)


class Searcher:
    """An encoder and a published index that match, plus the search and explain logic.

    Args:
        encoder: the ONNX encoder.
        published: the loaded index generation.
        model_sha256: hex sha256 of the ONNX file.
        batcher: the shared micro-batcher that runs encoder calls.
        settings: limits and overlay options.
    """

    def __init__(
        self,
        encoder: OnnxEncoder,
        published: PublishedIndex,
        model_sha256: str,
        batcher: MicroBatcher,
        settings: Settings,
    ) -> None:
        self.encoder = encoder
        self.published = published
        self.model_sha256 = model_sha256
        self.batcher = batcher
        self.settings = settings
        self.gallery = Gallery(published)
        self.reranker: Reranker | None = None
        if settings.rerank and published.tokens is not None:
            self.reranker = Reranker(
                published.tokens,
                settings.rerank_candidates,
                settings.rerank_weight,
                settings.match_keep_ratio,
            )
        self.calibration: ScoreCalibration | None = None
        if settings.calibration_sample > 0:
            self.calibration = calibrate(published, CalibrationOptions.from_settings(settings))
        self.explainer = Explainer(encoder, batcher, self.gallery, settings)

    @classmethod
    def load(
        cls, model_path: Path, index_dir: Path, batcher: MicroBatcher, settings: Settings
    ) -> Searcher:
        """Load the model and the index and check they belong together.

        Raises:
            ModelError, IndexFileError: a file is missing or unreadable (named in the message).
            IndexMismatchError: the index was built for another model.
        """
        encoder = OnnxEncoder(model_path, settings.device, settings.threads)
        published = load_published(index_dir, settings.vector_store)
        sha256 = file_sha256(Path(model_path))
        check_compatible(Path(model_path), sha256, encoder, published)
        logger.info(
            "serving %d items of %s (generation %s) with model %s (%s)",
            published.index.count,
            index_dir,
            published.manifest["generation"],
            model_path,
            sha256[:VERSION_CHARS],
        )
        return cls(encoder, published, sha256, batcher, settings)

    @property
    def model_version(self) -> str:
        """Prefix of the ONNX file's sha256."""
        return self.model_sha256[:VERSION_CHARS]

    @property
    def index_version(self) -> dict[str, str]:
        """Generation and build time of the index."""
        manifest = self.published.manifest
        return {"generation": str(manifest["generation"]), "built_at": str(manifest["built_at"])}

    def embed_batch(self, batch: np.ndarray) -> list[np.ndarray]:
        """Batch function: (B, 3, S, S) -> B embeddings (D,)."""
        return list(self.encoder.run(batch).embedding)

    def search_uploads(
        self,
        uploads: Sequence[bytes],
        k: int,
        explain: bool = False,
        inline: bool = False,
        box: tuple[float, float, float, float] | None = None,
        where: Filter = NO_FILTER,
    ) -> SearchOutcome:
        """Decode, embed, search and (when asked) explain uploaded images; with ``box``
        (x0, y0, x1, y1 in the upload's pixels) search with that region.

        In a batch, an image that cannot be used gets its own error entry and the others their
        results; a single upload (or a batch of which none can be used) raises.

        Raises:
            ImageInputError: no upload is a usable image (``images[i]`` names it in a batch).
            QueueFullError: the encoder queue is full.
        """
        timings = dict.fromkeys(("decode", "embed", "search", "explain"), 0.0)
        needs_tokens = explain or self.uses_query_tokens
        with self.batcher.admit(len(uploads)) as admission:
            start = time.perf_counter()
            decoded = self.decode_each(uploads, box)
            good = [i for i, d in enumerate(decoded) if isinstance(d, Image.Image)]
            if not good:
                raise decoded[0]  # type: ignore[misc]
            images: list[Image.Image] = [decoded[i] for i in good]  # type: ignore[misc]
            arrays = [preprocess_image(image, self.encoder.preprocessing) for image in images]
            timings["decode"] = _ms_since(start)
            start = time.perf_counter()
            fn = self.explainer.explain_batch if needs_tokens else self.embed_batch
            outputs = [f.result(ENCODE_TIMEOUT_S) for f in admission.submit(fn, arrays)]
            timings["embed"] = _ms_since(start)
        start = time.perf_counter()
        hits = self.ranked_hits(outputs, needs_tokens, k, where)
        timings["search"] = _ms_since(start)
        start = time.perf_counter()
        queries = [
            self.explainer.explain_hits(image, out, row, inline)
            if explain
            else QueryResult([HitResult(h) for h in row])
            for image, out, row in zip(images, outputs, hits, strict=True)
        ]
        timings["explain"] = _ms_since(start) if explain else 0.0
        for query, position, out in zip(queries, good, outputs, strict=True):
            query.sha256 = hashlib.sha256(uploads[position]).hexdigest()
            if needs_tokens and self.calibration and self.calibration.coverage:
                query.coverage = self.calibration.coverage.of(self.query_tokens(out))
                query.covered = query.coverage >= self.calibration.coverage.none_below
        by_position = dict(zip(good, queries, strict=True))
        return SearchOutcome(
            [by_position.get(i) or failed_query(decoded[i]) for i in range(len(uploads))],
            timings,
        )

    def decode_each(
        self, uploads: Sequence[bytes], box: tuple[float, float, float, float] | None
    ) -> list[Image.Image | ImageInputError]:
        """Each upload decoded (and cut to ``box``), or the error that names why it cannot be."""
        short_side = int(self.encoder.preprocessing["resize"])
        results: list[Image.Image | ImageInputError] = []
        for position, data in enumerate(uploads):
            try:
                image = decode_uploads([data], self.settings.max_pixels, short_side)[0]
                results.append(image if box is None else crop_to_box(image, box))
            except ImageInputError as err:
                if len(uploads) > 1:
                    err = ImageInputError(f"images[{position}]: {err}", err.status)
                results.append(err)
        return results

    def ranked_hits(
        self, outputs: list[Any], needs_tokens: bool, k: int, where: Filter
    ) -> list[list[Hit]]:
        """The hits of each encoded query: the index's order, or re-ranked by pivotal tokens."""
        vectors = np.stack([o.embedding if needs_tokens else o for o in outputs])
        if self.reranker is None:
            return self.search_vectors(vectors, k, None, where)
        pool = Filter(where.label, 0)  # re-rank the top R, then threshold and page the result
        depth = max(k + where.offset, self.reranker.candidates)
        candidates = self.search_vectors(vectors, depth, None, pool)
        reranked = [
            [hit for hit in self.reranker.rerank(out, row) if where.keeps(hit.score)]
            for out, row in zip(outputs, candidates, strict=True)
        ]
        return [row[where.offset : where.offset + k] for row in reranked]

    @property
    def uses_query_tokens(self) -> bool:
        """Whether searches need the query's pivotal tokens (re-ranking or coverage)."""
        coverage = self.calibration is not None and self.calibration.coverage is not None
        return self.reranker is not None or (self.published.tokens is not None and coverage)

    def query_tokens(self, query: Explanation) -> np.ndarray:
        """The query's pivotal patch tokens (T, D), as many as the index stores per item."""
        assert self.published.tokens is not None
        return pivotal_query_tokens(query, self.published.tokens.tokens.shape[1])

    def search_item(
        self,
        item_id: int,
        k: int,
        explain: bool = False,
        inline: bool = False,
        where: Filter = NO_FILTER,
    ) -> SearchOutcome:
        """Nearest neighbours of a gallery item (itself excluded), from its stored vector."""
        self.gallery.item(item_id)
        timings = dict.fromkeys(("decode", "embed", "search", "explain"), 0.0)
        start = time.perf_counter()
        try:
            vector = self.published.index.reconstruct(item_id)[None]
        except RuntimeError:  # an index type that cannot reconstruct: embed the image again
            vector = self.explainer.explain_items([item_id])[item_id].embedding[None]
            timings["embed"] = _ms_since(start)
        start = time.perf_counter()
        hits = self.search_vectors(vector, k, item_id, where)
        timings["search"] = _ms_since(start)
        result = QueryResult([HitResult(h) for h in hits[0]])
        if explain:
            start = time.perf_counter()
            own = self.explainer.explain_items([item_id])[item_id]
            # no image: the query is a gallery item, whose overlay has a URL of its own
            result = self.explainer.explain_hits(None, own, hits[0], inline)
            timings["explain"] = _ms_since(start)
        return SearchOutcome([result], timings)

    def search_vectors(
        self, vectors: np.ndarray, k: int, exclude: int | None = None, where: Filter = NO_FILTER
    ) -> list[list[Hit]]:
        """Hits ``offset`` to ``offset + k`` per query vector (B, D), with their catalog items,
        among the items of ``where.label`` when given (filtered inside the index search), and
        scoring at least ``where.min_score`` when given."""
        extra = 0 if exclude is None else 1
        if self.settings.search_threads:  # OpenMP's thread count is per calling thread
            faiss.omp_set_num_threads(self.settings.search_threads)
        among = None
        if where.label is not None:
            among = np.asarray(self.published.catalog.ids(where.label), dtype=np.int64)
            if len(among) == 0:
                return [[] for _ in vectors]
        wanted = k + where.offset
        scores, ids = self.published.index.search(vectors, wanted + extra, among)  # (B, k')
        items = self.published.catalog.get(sorted({int(i) for i in ids.ravel() if i >= 0}))
        return [
            [
                Hit(int(i), float(s), items[int(i)])
                for s, i in zip(row_scores, row_ids, strict=True)
                if i >= 0 and int(i) != exclude and int(i) in items and where.keeps(float(s))
            ][where.offset : wanted]
            for row_scores, row_ids in zip(scores, ids, strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        """Versions and sizes for /readyz and /admin/reload."""
        return {
            "model_version": self.model_version,
            "index_version": self.index_version,
            "item_count": self.published.index.count,
            "model_path": str(self.encoder.path),
            "index_dir": str(self.published.root),
        }


def failed_query(error: Image.Image | ImageInputError) -> QueryResult:
    """The entry of a batch image that could not be used."""
    assert isinstance(error, ImageInputError)
    return QueryResult([], error=str(error), error_status=error.status)


def _ms_since(start: float) -> float:
    """Milliseconds since a ``perf_counter`` reading."""
    return (time.perf_counter() - start) * 1000.0
