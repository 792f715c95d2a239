"""Search page: pick a query, see the k nearest gallery items, and compare the query with a hit."""

from __future__ import annotations

from typing import Any

import streamlit as st
from PIL import Image

from ui.client import ServiceClient, ServiceError
from ui.drawing import ImageDecodeError, answer_grid, draw_correspondences, make_thumbnail, open_rgb
from ui.session import (
    ANSWER,
    ITEM_INPUT,
    QUERY,
    SELECTED,
    Answer,
    Query,
    close_detail,
    search_by_item,
    search_by_item_input,
    select_hit,
    set_query,
)
from ui.views.pictures import (
    DETAIL_SIDE,
    THUMB_SIDE,
    decode_picture,
    hit_overlay,
    load_picture,
    with_overlay,
)

K_MAX = 50  # the service's default LODISC_MAX_K; a lower limit there comes back as its detail
K_DEFAULT = 10
COLUMNS = 5
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
UPLOAD_SEEN = "upload_seen"  # file_id of the upload last made the query


def render_search(api: ServiceClient) -> None:
    """The Search page."""
    st.header("Search")
    choose_query()
    k_col, explain_col, show_col, opacity_col = st.columns([3, 2, 2, 3])
    k = k_col.slider("Results (k)", 1, K_MAX, K_DEFAULT, key="k")
    explain = explain_col.toggle("Explain matches", True, key="explain")
    show = show_col.toggle("Show overlays", True, key="show_overlay")
    opacity = opacity_col.slider("Overlay opacity", 0.0, 1.0, 0.6, 0.05, key="overlay_opacity")
    query: Query | None = st.session_state.get(QUERY)
    if query is None:
        st.info("Upload an image or give a gallery item id to search.")
        return
    answer = answer_query(api, query, k, explain)
    if answer.error is not None:
        st.error(f"Search failed: {answer.error}")
        return
    response = answer.response or {}
    query_picture = load_query_picture(api, query)
    render_summary(query, query_picture, response)
    hits = response.get("results", [])
    selected = next((h for h in hits if h["id"] == st.session_state.get(SELECTED)), None)
    if selected is not None:
        render_detail(api, query.item_id, query_picture, response, selected, show, opacity)
    render_results(api, hits, show, opacity)


def choose_query() -> None:
    """Upload widget and gallery id input; a new upload becomes the current query."""
    upload_col, item_col = st.columns([2, 1])
    upload = upload_col.file_uploader("Query image (drag and drop)", IMAGE_TYPES, key="upload")
    if upload is not None and upload.file_id != st.session_state.get(UPLOAD_SEEN):
        st.session_state[UPLOAD_SEEN] = upload.file_id
        set_query(Query.from_upload(upload.name, upload.getvalue()))
    item_col.number_input("Gallery item id", min_value=0, step=1, key=ITEM_INPUT)
    item_col.button("Search by gallery item", key="search_item", on_click=search_by_item_input)


def answer_query(api: ServiceClient, query: Query, k: int, explain: bool) -> Answer:
    """The answer for this query and settings: remembered, or asked of the service once."""
    signature = (query.key, k, explain)
    answer: Answer | None = st.session_state.get(ANSWER)
    if answer is not None and answer.signature == signature:
        return answer
    try:
        with st.spinner(f"Searching for {query.title}..."):
            if query.item_id is not None:
                response = api.similar(query.item_id, k, explain=explain)
            else:
                response = api.search(query.data, query.filename, k, explain=explain)
        answer = Answer(signature, response=response)
    except ServiceError as err:
        answer = Answer(signature, error=err.message)
    st.session_state[ANSWER] = answer
    return answer


def load_query_picture(api: ServiceClient, query: Query) -> Image.Image | None:
    """The query image: the upload itself, or the gallery item's image."""
    if query.item_id is not None:
        return load_picture(api, api.item_image_url(query.item_id), DETAIL_SIDE)
    try:
        return make_thumbnail(open_rgb(query.data), DETAIL_SIDE)
    except ImageDecodeError:
        return None


def load_query_overlay(
    api: ServiceClient, query_id: int | None, response: dict[str, Any]
) -> Image.Image | None:
    """The query's overlay: from the answer, else (a gallery item) the item's own overlay."""
    overlay = decode_picture(response.get("query_overlay"), DETAIL_SIDE)
    if overlay is None and query_id is not None:
        overlay = load_picture(api, f"/items/{query_id}/overlay", DETAIL_SIDE)
    return overlay


def render_summary(query: Query, picture: Image.Image | None, response: dict[str, Any]) -> None:
    """The query picture and where the answer came from."""
    picture_col, text_col = st.columns([1, 4])
    if picture is not None:
        picture_col.image(make_thumbnail(picture, THUMB_SIDE), caption="query")
    timings = response.get("timings_ms") or {}
    stages = ", ".join(f"{name} {ms:.0f} ms" for name, ms in timings.items())
    index = response.get("index_version") or {}
    generation = index.get("generation", "?") if isinstance(index, dict) else index
    text_col.markdown(f"**{len(response.get('results', []))} results for {query.title}**")
    text_col.caption(
        f"model {response.get('model_version', '?')} · index {generation} · {stages or 'no timings'}"
    )


def render_results(
    api: ServiceClient, hits: list[dict[str, Any]], show: bool, opacity: float
) -> None:
    """The results grid: picture, label, score, and the two buttons per card."""
    for start in range(0, len(hits), COLUMNS):
        for col, (rank, hit) in zip(
            st.columns(COLUMNS), enumerate(hits[start : start + COLUMNS], start + 1), strict=False
        ):
            with col.container(border=True):
                render_card(api, rank, hit, show, opacity)


def render_card(
    api: ServiceClient, rank: int, hit: dict[str, Any], show: bool, opacity: float
) -> None:
    """One result card."""
    picture = load_picture(api, hit.get("image_url"), THUMB_SIDE)
    if picture is None:
        st.caption("image unavailable")
    else:
        overlay = hit_overlay(api, hit, THUMB_SIDE) if show else None
        st.image(with_overlay(picture, overlay, show, opacity))
    st.markdown(f"**{rank}. {hit.get('label', '')}**")
    st.caption(f"score {hit['score']:.3f} · id {hit['id']}")
    st.button("Compare", key=f"detail_{hit['id']}", on_click=select_hit, args=(hit["id"],))
    st.button("More like this", key=f"more_{hit['id']}", on_click=search_by_item, args=(hit["id"],))


def render_detail(
    api: ServiceClient,
    query_id: int | None,
    query_picture: Image.Image | None,
    response: dict[str, Any],
    hit: dict[str, Any],
    show: bool,
    opacity: float,
) -> None:
    """Query and hit side by side with their overlays and matched patches joined by lines."""
    st.subheader(f"Query vs {hit.get('label', '')} (id {hit['id']}, score {hit['score']:.3f})")
    hit_picture = load_picture(api, hit.get("image_url"), DETAIL_SIDE)
    if query_picture is None or hit_picture is None:
        st.warning("The query or the hit image could not be loaded.")
    else:
        query_overlay = load_query_overlay(api, query_id, response) if show else None
        query_view = with_overlay(query_picture, query_overlay, show, opacity)
        hit_view = with_overlay(hit_picture, hit_overlay(api, hit, DETAIL_SIDE), show, opacity)
        pairs = hit.get("correspondences") or []
        grid = answer_grid(response)
        if pairs and grid is not None:
            boxes = (response.get("query_crop_box"), hit.get("crop_box"))
            canvas = draw_correspondences(query_view, hit_view, pairs, grid, boxes)
            st.image(canvas, caption="matched patches: query (left), hit (right)")
            st.table(correspondence_rows(pairs))
        else:
            left, right = st.columns(2)
            left.image(query_view, caption="query")
            right.image(hit_view, caption="hit")
            st.info("Turn on 'Explain matches' to see the patch correspondences.")
    st.button("Close comparison", key="close_detail", on_click=close_detail)


def correspondence_rows(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the correspondence table, numbered as on the canvas."""
    return [
        {
            "pair": number,
            "query patch (row, col)": str(tuple(pair["query_patch"])),
            "hit patch (row, col)": str(tuple(pair["hit_patch"])),
            "patch similarity": round(float(pair["score"]), 3),
        }
        for number, pair in enumerate(pairs, start=1)
    ]
