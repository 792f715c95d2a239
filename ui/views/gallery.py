"""Gallery page: browse the indexed items a page at a time, filter by label, search by an item."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from ui.client import ServiceClient, ServiceError
from ui.session import search_by_item
from ui.views.pictures import THUMB_SIDE, load_picture

ALL_LABELS = "All labels"
PAGE_SIZES = (12, 24, 48)
PAGE_SIZE_DEFAULT = 24
COLUMNS = 6
LABEL_KEY = "gallery_label"
SIZE_KEY = "gallery_page_size"
PAGE_NO_KEY = "gallery_page"


def render_gallery(api: ServiceClient) -> None:
    """The Gallery page; the controls are drawn above the items but read before fetching them."""
    st.header("Gallery")
    controls = st.container()
    size = st.session_state.get(SIZE_KEY, PAGE_SIZE_DEFAULT)
    page = fetch_page(api, size)
    if page is None:
        return
    pages = max(1, math.ceil(page["total"] / size))
    counts = dict(page["labels"])
    label = st.session_state.get(LABEL_KEY, ALL_LABELS)
    # A label that vanished or a page past the end (after a reload): fix the state, ask again.
    # Widget keys may be set only before their widget is drawn in this run.
    if (label != ALL_LABELS and label not in counts) or st.session_state[PAGE_NO_KEY] > pages:
        if label != ALL_LABELS and label not in counts:
            st.session_state[LABEL_KEY] = ALL_LABELS
        st.session_state[PAGE_NO_KEY] = min(st.session_state[PAGE_NO_KEY], pages)
        page = fetch_page(api, size)
        if page is None:
            return
        pages = max(1, math.ceil(page["total"] / size))
    with controls:
        render_controls(counts, pages, page["total"])
    render_items(api, page.get("items", []))


def fetch_page(api: ServiceClient, size: int) -> dict[str, Any] | None:
    """The page the controls' state asks for, or None after showing why it failed."""
    label = st.session_state.get(LABEL_KEY, ALL_LABELS)
    page_no = st.session_state.setdefault(PAGE_NO_KEY, 1)
    try:
        page = api.items((page_no - 1) * size, size, None if label == ALL_LABELS else label)
    except ServiceError as err:
        st.error(f"Cannot list the gallery: {err.message}")
        return None
    page.setdefault("total", len(page.get("items", [])))
    page.setdefault("labels", [])
    return page


def _first_page() -> None:
    """Callback: a new filter or page size starts at page 1."""
    st.session_state[PAGE_NO_KEY] = 1


def render_controls(counts: dict[str, int], pages: int, total: int) -> None:
    """Label filter, page size and page number."""
    label_col, size_col, page_col = st.columns(3)
    label_col.selectbox(
        "Label",
        [ALL_LABELS, *counts],
        key=LABEL_KEY,
        format_func=lambda name: name if name == ALL_LABELS else f"{name} ({counts[name]})",
        on_change=_first_page,
        persist_state="session",
    )
    size_col.selectbox(
        "Items per page",
        PAGE_SIZES,
        index=PAGE_SIZES.index(PAGE_SIZE_DEFAULT),
        key=SIZE_KEY,
        on_change=_first_page,
        persist_state="session",
    )
    page_col.number_input(
        "Page", min_value=1, max_value=pages, step=1, key=PAGE_NO_KEY, persist_state="session"
    )
    st.caption(f"{total} items · {pages} pages")


def render_items(api: ServiceClient, items: list[dict[str, Any]]) -> None:
    """Item cards with a "search by this" button each."""
    if not items:
        st.info("No items on this page.")
        return
    for start in range(0, len(items), COLUMNS):
        for col, item in zip(st.columns(COLUMNS), items[start : start + COLUMNS], strict=False):
            with col.container(border=True):
                picture = load_picture(api, item.get("image_url"), THUMB_SIDE)
                if picture is None:
                    st.caption("image unavailable")
                else:
                    st.image(picture)
                st.markdown(f"**{item.get('label', '')}**")
                st.caption(f"id {item['id']} · {item.get('width', '?')}×{item.get('height', '?')}")
                st.button(
                    "Search by this",
                    key=f"gallery_search_{item['id']}",
                    on_click=search_by_item,
                    args=(item["id"],),
                )
