"""What a search shows besides its hits: pivotal-region overlays, correspondences and match maps.

Gallery items are re-encoded on demand (batched, through the shared micro-batcher) and their
explain outputs kept in an LRU cache, so a popular hit costs one encoder call, not one per search.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from PIL import Image

from lodisc.inference.image_preprocess import preprocess_image
from lodisc.inference.matching import explain_matches
from lodisc.inference.onnx_encoder import OnnxEncoder
from lodisc.inference.pivotal import pivotal_map
from service.batcher import MicroBatcher
from service.config import Settings
from service.gallery_items import Gallery, ItemNotFoundError
from service.overlay import encode_png, find_correspondences, render_overlay
from service.search_outcome import Explanation, Hit, HitResult, QueryResult

logger = logging.getLogger(__name__)

ENCODE_TIMEOUT_S = 60.0  # a request gives up on the encoder queue after this (HTTP 503)


class Explainer:
    """Explanations of queries and gallery items, and the overlays drawn from them.

    Args:
        encoder: the ONNX encoder (its explain outputs: attention rows and patch tokens).
        batcher: the shared micro-batcher that runs encoder calls.
        gallery: the gallery whose item images are re-encoded.
        settings: overlay, correspondence, match-map and cache options.
    """

    def __init__(
        self, encoder: OnnxEncoder, batcher: MicroBatcher, gallery: Gallery, settings: Settings
    ) -> None:
        self.encoder = encoder
        self.batcher = batcher
        self.gallery = gallery
        self.settings = settings
        self.cache: OrderedDict[int, Explanation] = OrderedDict()
        self._cache_lock = threading.Lock()

    def explain_batch(self, batch: np.ndarray) -> list[Explanation]:
        """Batch function: (B, 3, S, S) -> B embeddings with their attention rows and patches."""
        out = self.encoder.run(batch, explain=True)
        assert out.cls_attention is not None and out.patch_tokens is not None
        return [
            Explanation(e, pivotal_map(a, self.encoder.grid_size), p)
            for e, a, p in zip(out.embedding, out.cls_attention, out.patch_tokens, strict=True)
        ]

    def explain_hits(
        self, image: Image.Image | None, query: Explanation, hits: list[Hit], inline: bool
    ) -> QueryResult:
        """Query overlay (of ``image`` when given), per-hit correspondences, ``inline`` overlays.

        A hit whose gallery image is unavailable is returned unexplained rather than failing.
        """
        explained = self.explain_items([hit.id for hit in hits], missing_ok=True)
        top = self.settings.correspondences
        results = []
        for hit in hits:
            other = explained.get(hit.id)
            if other is None:
                results.append(HitResult(hit))
                continue
            pairs = find_correspondences(query.patches, query.heat, other.patches, top)
            png = self.item_overlay_png(hit.id, other) if inline else None
            results.append(HitResult(hit, pairs, png))
        self.add_match_maps(query, results, explained)
        if image is None:  # "more like this": the query is a gallery item with its own URL
            return QueryResult(results, None, explained=True)
        return QueryResult(
            results, self.overlay_png(image, query), True, (image.width, image.height)
        )

    def add_match_maps(
        self, query: Explanation, results: list[HitResult], explained: dict[int, Explanation]
    ) -> None:
        """Query-dependent match maps (on the hit and on the query) of the explained hits."""
        shown = [r for r in results if r.correspondences is not None]
        if not shown:
            return
        hit_patches = np.stack([explained[r.hit.id].patches for r in shown])  # (K, N, D)
        maps = explain_matches(
            query.patches, query.heat, hit_patches, self.settings.match_keep_ratio
        )
        for result, match in zip(shown, maps, strict=True):
            result.match = match

    def explain_items(
        self, item_ids: Sequence[int], missing_ok: bool = False
    ) -> dict[int, Explanation]:
        """Explain outputs of gallery items, re-encoding (batched) those not cached.

        Raises:
            ItemNotFoundError: an item's image is unavailable (left out when ``missing_ok``).
        """
        with self._cache_lock:
            found = {i: self.cache[i] for i in item_ids if i in self.cache}
            for i in found:
                self.cache.move_to_end(i)
        arrays = {}
        for item_id in sorted(set(item_ids) - set(found)):
            try:
                image = self.gallery.load_image(item_id)
            except ItemNotFoundError as err:
                if not missing_ok:
                    raise
                logger.warning("cannot explain item %d: %s", item_id, err)
                continue
            arrays[item_id] = preprocess_image(image, self.encoder.preprocessing)
        if arrays:
            outputs = self.batcher.run(self.explain_batch, list(arrays.values()), ENCODE_TIMEOUT_S)
            fresh = dict(zip(arrays, outputs, strict=True))
            found.update(fresh)
            with self._cache_lock:
                self.cache.update(fresh)
                while len(self.cache) > self.settings.explain_cache_items:
                    self.cache.popitem(last=False)
        return found

    def overlay_png(self, image: Image.Image, explanation: Explanation) -> bytes:
        """PNG of the pivotal-region map blended on ``image``."""
        options = self.settings
        rendered = render_overlay(
            image,
            explanation.heat,
            self.encoder.preprocessing,
            options.overlay_alpha,
            options.overlay_max_side,
        )
        return encode_png(rendered)

    def item_overlay_png(self, item_id: int, explanation: Explanation | None = None) -> bytes:
        """PNG overlay of a gallery item."""
        if explanation is None:
            explanation = self.explain_items([item_id])[item_id]
        return self.overlay_png(self.gallery.load_image(item_id), explanation)
