"""The query beside its own pivotal map, the heatmap legend, and what the answer says overall:
the predicted label, whether anything matched, where the answer came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st
from PIL import Image

from ui.client import ServiceClient, ServiceError
from ui.drawing import ImageDecodeError, make_thumbnail, open_rgb
from ui.heatmap import draw_legend
from ui.session import Box, Query
from ui.views.pictures import (
    DETAIL_SIDE,
    THUMB_SIDE,
    decode_picture,
    fetch_bytes,
    load_picture,
    with_overlay,
)

LEGEND_CAPTION = "Heatmap colours: dark purple = low, yellow = high"
NO_MATCH = (
    "No good match: nothing in the gallery is close enough to this query "
    "(the top hit's match is 'none')."
)


@dataclass(frozen=True)
class QuerySource:
    """The whole query image, upright, at its own pixels (the frame of a search box)."""

    image: Image.Image

    def region(self, box: Box | None, side: int = DETAIL_SIDE) -> Image.Image:
        """The part searched (``box``, or all of it) scaled to ``side`` on its longer side."""
        return make_thumbnail(self.image if box is None else self.image.crop(box), side)


def load_query_source(api: ServiceClient, query: Query) -> QuerySource | None:
    """The query image: the upload itself or the gallery item's image (None when unreadable)."""
    try:
        if query.item_id is not None:
            data = fetch_bytes(api, api.item_image_url(query.item_id))
        else:
            data = query.data
        return QuerySource(open_rgb(data))
    except (ServiceError, ImageDecodeError):
        return None


def load_query_overlay(
    query: Query, response: dict[str, Any], api: ServiceClient
) -> Image.Image | None:
    """The query's pivotal map: from the answer, else (a whole gallery item) the item's own."""
    overlay = decode_picture(response.get("query_overlay"), DETAIL_SIDE)
    if overlay is None and query.item_id is not None and query.box is None:
        overlay = load_picture(api, f"/items/{query.item_id}/overlay", DETAIL_SIDE)
    return overlay


def render_query_panel(
    api: ServiceClient,
    query: Query,
    source: QuerySource | None,
    response: dict[str, Any],
    opacity: float,
) -> None:
    """The query, its pivotal map with the legend, and the answer's summary."""
    hits = response.get("results", [])
    st.markdown(f"**{len(hits)} results for {query.title}**")
    picture_col, map_col, info_col = st.columns(3)
    picture = None if source is None else source.region(query.box, THUMB_SIDE)
    if picture is None:
        picture_col.caption("query image unavailable")
    else:
        picture_col.image(picture, caption="query")
    overlay = load_query_overlay(query, response, api)
    with map_col:
        if picture is not None and overlay is not None:
            pivotal = with_overlay(picture, overlay, True, opacity)
            st.image(pivotal, caption="where the model looks (pivotal map)")
        else:
            st.caption("Turn on 'Explain matches' to see where the model looks.")
        st.image(draw_legend())
        st.caption(LEGEND_CAPTION)
    with info_col:
        render_verdict(response)


def render_verdict(response: dict[str, Any]) -> None:
    """Predicted label, the honest "no good match", and where the answer came from."""
    hits = response.get("results", [])
    predicted = response.get("predicted_label")
    if predicted:
        st.markdown(
            f"Predicted label: **{predicted['label']}** ({predicted['confidence']:.0%} of the vote)"
        )
    if hits and hits[0].get("match") == "none":
        st.warning(NO_MATCH)
    timings = response.get("timings_ms") or {}
    stages = ", ".join(f"{name} {ms:.0f} ms" for name, ms in timings.items())
    index = response.get("index_version") or {}
    generation = index.get("generation", "?") if isinstance(index, dict) else index
    st.caption(
        f"model {response.get('model_version', '?')} · index {generation} · {stages or 'no timings'}"
    )
