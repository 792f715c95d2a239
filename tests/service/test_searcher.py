"""The searcher without HTTP: batching of hit re-encoding, the explain cache in use, fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.gallery_items import ItemNotFoundError
from service.searcher import Searcher


def test_hits_are_reencoded_in_batches_and_cached(
    searcher: Searcher, gallery_files: list[Path], batch_sizes: list[int]
) -> None:
    outcome = searcher.search_uploads([gallery_files[0].read_bytes()], k=4, explain=True)
    assert batch_sizes == [1, 4]  # the query, then its four hits in one encoder call
    assert len(searcher.explainer.cache) == 4
    again = searcher.search_uploads([gallery_files[0].read_bytes()], k=4, explain=True)
    assert batch_sizes == [1, 4, 1]  # the hits came from the cache
    first, second = outcome.queries[0].hits, again.queries[0].hits
    assert [h.correspondences for h in first] == [h.correspondences for h in second]


def test_search_item_falls_back_to_embedding_the_image(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = searcher.search_item(5, k=3).queries[0].hits
    assert 5 not in [h.hit.id for h in stored]

    def cannot_reconstruct(item_id: int) -> np.ndarray:
        raise RuntimeError("this index type cannot reconstruct")

    monkeypatch.setattr(searcher.published.index, "reconstruct", cannot_reconstruct)
    embedded = searcher.search_item(5, k=3)
    assert [h.hit.id for h in embedded.queries[0].hits] == [h.hit.id for h in stored]
    assert embedded.timings_ms["embed"] > 0.0


def test_unknown_items_raise(searcher: Searcher) -> None:
    with pytest.raises(ItemNotFoundError):
        searcher.search_item(12345, k=3)
    with pytest.raises(ItemNotFoundError):
        searcher.gallery.item_path(-1)


def test_k_larger_than_the_gallery_returns_every_item(
    searcher: Searcher, gallery_files: list[Path]
) -> None:
    outcome = searcher.search_uploads([gallery_files[1].read_bytes()], k=50)
    assert len(outcome.queries[0].hits) == 32
