"""Search page: pick a query (upload, gallery id, or a region of either), see a page of the k
nearest gallery items with their match maps, compare the query with a hit."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.client import ServiceClient, ServiceError
from ui.session import (
    ALL_LABELS,
    ANSWER,
    EXPLAIN,
    HEATMAP,
    HEATMAP_MODES,
    ITEM_INPUT,
    K_MAX,
    LABEL_FILTER,
    MIN_SCORE,
    OPACITY,
    QUERY,
    RESULTS_PAGE,
    SELECTED,
    Answer,
    K,
    Query,
    set_query,
    submit_search,
    turn_page,
)
from ui.views.hits import render_comparison, render_results
from ui.views.pictures import fetch_bytes, load_labels
from ui.views.query_panel import load_query_source, render_query_panel
from ui.views.region import render_region_tool

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
UPLOAD_SEEN = "upload_seen"  # file_id of the upload last made the query


def render_search(api: ServiceClient) -> None:
    """The Search page."""
    st.header("Search")
    choose_query(api)
    heatmap_col, opacity_col = st.columns(2)
    heatmap = heatmap_col.selectbox("Heatmap", HEATMAP_MODES, key=HEATMAP, persist_state="session")
    opacity = opacity_col.slider(
        "Heatmap opacity", 0.0, 1.0, step=0.05, key=OPACITY, persist_state="session"
    )
    query: Query | None = st.session_state.get(QUERY)
    if query is None:
        st.info("Upload an image, or type a gallery item id and press Enter.")
        return
    source = load_query_source(api, query)
    answer = answer_query(api, query)
    if answer.error is not None:
        st.error(f"Search failed: {answer.error}")
        render_region_tool(query, source)
        return
    response = answer.response or {}
    render_query_panel(api, query, source, response, opacity)
    render_region_tool(query, source)
    hits = response.get("results", [])
    render_results(api, hits, heatmap, opacity)
    render_pager(len(hits))
    selected = next((h for h in hits if h["id"] == st.session_state.get(SELECTED)), None)
    if selected is not None:
        query_picture = None if source is None else source.region(query.box)
        render_comparison(api, query_picture, response, selected, heatmap, opacity)


def choose_query(api: ServiceClient) -> None:
    """The upload (a new one becomes the query) and the search form (Enter submits it)."""
    upload = st.file_uploader("Query image (drag and drop)", IMAGE_TYPES, key="upload")
    if upload is not None and upload.file_id != st.session_state.get(UPLOAD_SEEN):
        st.session_state[UPLOAD_SEEN] = upload.file_id
        set_query(Query.from_upload(upload.name, upload.getvalue()))
    labels = load_labels(api)
    if st.session_state.get(LABEL_FILTER) not in (ALL_LABELS, *labels):
        st.session_state[LABEL_FILTER] = ALL_LABELS  # a label the gallery no longer has
    with st.form("search_form", enter_to_submit=True):
        item_col, k_col = st.columns(2)
        item_col.number_input(
            "Gallery item id",
            min_value=0,
            step=1,
            value=None,
            key=ITEM_INPUT,
            placeholder="e.g. 12",
        )
        k_col.slider("Results per page (k)", 1, K_MAX, key=K, persist_state="session")
        label_col, score_col, explain_col = st.columns(3)
        label_col.selectbox(
            "Only this label", [ALL_LABELS, *labels], key=LABEL_FILTER, persist_state="session"
        )
        score_col.number_input(
            "Minimum score (0: any)",
            min_value=0.0,
            max_value=1.0,
            step=0.05,
            key=MIN_SCORE,
            persist_state="session",
            help="only hits whose score reaches this; a page may then hold fewer than k",
        )
        explain_col.toggle("Explain matches", key=EXPLAIN, persist_state="session")
        st.form_submit_button("Search", key="search_submit", type="primary", on_click=submit_search)


def search_options() -> dict[str, Any]:
    """k, explain, label, offset and score threshold of the current settings and results page."""
    label = st.session_state[LABEL_FILTER]
    k = int(st.session_state[K])
    min_score = float(st.session_state.get(MIN_SCORE, 0.0))
    return {
        "k": k,
        "explain": bool(st.session_state[EXPLAIN]),
        "label": None if label == ALL_LABELS else label,
        "offset": (st.session_state.get(RESULTS_PAGE, 1) - 1) * k,
        "min_score": min_score if min_score > 0 else None,
    }


def answer_query(api: ServiceClient, query: Query) -> Answer:
    """The answer for this query and settings: remembered, or asked of the service once."""
    options = search_options()
    signature = (query.key, *options.values())
    answer: Answer | None = st.session_state.get(ANSWER)
    if answer is not None and answer.signature == signature:
        return answer
    try:
        with st.spinner(f"Searching for {query.title}..."):
            if query.item_id is not None and query.box is None:
                response = api.similar(query.item_id, **options)
            elif query.item_id is not None:
                data = fetch_bytes(api, api.item_image_url(query.item_id))
                response = api.search(data, f"item-{query.item_id}", box=query.box, **options)
            else:
                response = api.search(query.data, query.filename, box=query.box, **options)
        answer = Answer(signature, response=response)
    except ServiceError as err:
        answer = Answer(signature, error=err.message)
    st.session_state[ANSWER] = answer
    return answer


def render_pager(shown: int) -> None:
    """Previous / next page of results (the service pages by ``offset``)."""
    page = st.session_state.get(RESULTS_PAGE, 1)
    k = int(st.session_state[K])
    first = (page - 1) * k + 1
    prev_col, text_col, next_col = st.columns([1, 2, 1], vertical_alignment="center")
    prev_col.button("Previous", key="page_prev", on_click=turn_page, args=(-1,), disabled=page <= 1)
    text_col.caption(
        f"Page {page} · results {first}-{first + shown - 1}"
        if shown
        else f"Page {page} · no results"
    )
    # A short page is the last one.
    next_col.button("Next", key="page_next", on_click=turn_page, args=(1,), disabled=shown < k)
