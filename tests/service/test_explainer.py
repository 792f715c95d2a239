"""The explainer without HTTP: its LRU cache of gallery explanations, missing images, overlays."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.explainer import Explainer
from service.gallery_items import ItemNotFoundError
from service.searcher import Searcher


@pytest.fixture()
def explainer(searcher: Searcher) -> Explainer:
    return searcher.explainer


def test_items_are_encoded_in_one_batch_and_kept_least_recently_used_first_out(
    explainer: Explainer, batch_sizes: list[int]
) -> None:
    explained = explainer.explain_items([10, 11, 12, 13, 14])
    assert sorted(explained) == [10, 11, 12, 13, 14] and batch_sizes == [5]
    assert list(explainer.cache) == [11, 12, 13, 14]  # at most 4 (the fixture's limit), LRU out
    again = explainer.explain_items([11])  # a hit refreshes its place without an encoder call
    assert list(explainer.cache) == [12, 13, 14, 11] and batch_sizes == [5]
    np.testing.assert_array_equal(again[11].embedding, explained[11].embedding)


def test_a_missing_gallery_image_is_left_out_only_when_allowed(explainer: Explainer) -> None:
    lost, kept = explainer.gallery.catalog.ids()[:2]
    path = explainer.gallery.item_path(lost)
    path.rename(path.with_suffix(".gone"))
    try:
        assert sorted(explainer.explain_items([lost, kept], missing_ok=True)) == [kept]
        with pytest.raises(ItemNotFoundError, match="missing"):
            explainer.explain_items([lost])
    finally:
        path.with_suffix(".gone").rename(path)


def test_an_item_overlay_is_a_png_of_the_item_image(explainer: Explainer) -> None:
    png = Image.open(io.BytesIO(explainer.item_overlay_png(3)))
    item = Image.open(explainer.gallery.item_path(3))
    assert png.format == "PNG"
    assert png.size[0] / png.size[1] == pytest.approx(item.size[0] / item.size[1], rel=0.05)
