"""The box tool: pick a region of the query with two range sliders, see it outlined on the
image as the sliders move, and search by it (``/search?box=x0,y0,x1,y1``).

Streamlit has no box drawing of its own; sliders work with a mouse, a finger or the keyboard, and
need no third-party component.
"""

from __future__ import annotations

import streamlit as st

from ui.drawing import draw_region, make_thumbnail
from ui.session import BOX_X, BOX_Y, Box, Query, format_box, search_region
from ui.views.query_panel import QuerySource

REGION_TITLE = "Search a region of the query"
PREVIEW_SIDE = 480  # pixels, longer side of the preview


def _span(key: str, low: int, high: int, extent: int) -> tuple[int, int]:
    """A range slider's (low, high), from ``extent`` pixels; a stale value is reset first."""
    value = st.session_state.get(key)
    if value is not None and not (0 <= value[0] <= value[1] <= extent):
        del st.session_state[key]
    start, end = st.slider(
        "Left to right (pixels)" if key == BOX_X else "Top to bottom (pixels)",
        0,
        extent,
        value=(min(low, extent), min(high, extent)),
        key=key,
    )
    return int(start), int(end)


def render_region_tool(query: Query, source: QuerySource | None) -> None:
    """The box tool in an expander, open while the query is a region."""
    if source is None:
        return
    width, height = source.image.size
    box = query.box or (0, 0, width, height)
    with st.expander(REGION_TITLE, expanded=query.box is not None):
        x0, x1 = _span(BOX_X, box[0], box[2], width)
        y0, y1 = _span(BOX_Y, box[1], box[3], height)
        picked: Box = (x0, y0, x1, y1)
        preview = make_thumbnail(source.image, PREVIEW_SIDE)
        st.image(draw_region(preview, picked, (width, height)))
        st.caption(f"region {format_box(picked)} of {width}×{height} pixels")
        usable = x0 < x1 and y0 < y1
        if not usable:
            st.caption("The region needs a width and a height.")
        search_col, whole_col = st.columns(2)
        search_col.button(
            "Search this region",
            key="box_search",
            on_click=search_region,
            args=(picked,),
            disabled=not usable or picked == query.box,
            type="primary",
        )
        whole_col.button(
            "Whole image",
            key="box_clear",
            on_click=search_region,
            args=(None,),
            disabled=query.box is None,
        )
