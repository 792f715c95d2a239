"""What the UI remembers between reruns (``st.session_state``) and the callbacks that change it.

Callbacks run before the next rerun, so they may set widget keys such as the page radio; a page
can thus send the user to the Search page with a new query.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

PAGES = ("Search", "Gallery", "Status")
PAGE = "page"  # the sidebar radio
QUERY = "query"  # the current Query
ANSWER = "answer"  # the Answer to the current query
SELECTED = "selected"  # id of the hit compared with the query, or None
UPLOADS = "uploads"  # recent uploads by digest, so Back can return to one
ITEM_INPUT = "item_id"  # gallery item id of the search form
K = "k"  # results per page (search form)
EXPLAIN = "explain"  # ask for explanations (search form)
LABEL_FILTER = "label_filter"  # only this label's items (search form)
MIN_SCORE = "min_score"  # only hits scoring at least this; 0.0 = no threshold (search form)
HEATMAP = "heatmap"  # which heatmap the pictures show
OPACITY = "overlay_opacity"
RESULTS_PAGE = "results_page"  # 1-based page of k results
BOX_X, BOX_Y = "box_x", "box_y"  # the box tool's range sliders

ALL_LABELS = "All labels"
HEATMAP_MODES = ("Match map", "Pivotal map", "Off")
K_MAX = 50  # the service's default LODISC_MAX_K; a lower limit there comes back as its detail
K_DEFAULT = 10
# The search settings and their first values; their widgets keep them across pages
# (persist_state="session").
SETTINGS = {
    K: K_DEFAULT,
    EXPLAIN: True,
    LABEL_FILTER: ALL_LABELS,
    MIN_SCORE: 0.0,
    HEATMAP: HEATMAP_MODES[0],
    OPACITY: 0.6,
}
UPLOADS_KEPT = 4  # uploads stay in memory for Back: a few, not all

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Query:
    """An uploaded image or a gallery item to search by, whole or a ``box`` region of it."""

    item_id: int | None = None
    filename: str = ""
    data: bytes = b""
    digest: str = ""
    box: Box | None = None

    @classmethod
    def from_upload(cls, filename: str, data: bytes) -> Query:
        """A query by uploaded image bytes."""
        return cls(filename=filename, data=data, digest=hashlib.sha256(data).hexdigest())

    @property
    def key(self) -> tuple[Any, ...]:
        """Identifies the query, so the same one is not sent twice."""
        source = (
            ("item", str(self.item_id)) if self.item_id is not None else ("upload", self.digest)
        )
        return (*source, self.box)

    @property
    def title(self) -> str:
        """How the page names the query."""
        name = f"gallery item {self.item_id}" if self.item_id is not None else self.filename
        return name if self.box is None else f"{name}, region {format_box(self.box)}"


@dataclass(frozen=True)
class Answer:
    """The service's answer (or error message) for one query and its settings."""

    signature: tuple[Any, ...]
    response: dict[str, Any] | None = None
    error: str | None = None


def format_box(box: Box) -> str:
    """``x0,y0,x1,y1`` as the API and the URL take it."""
    return ",".join(str(v) for v in box)


def parse_box(text: str | None) -> Box | None:
    """A box from ``x0,y0,x1,y1`` (whole pixels, x0 < x1, y0 < y1), or None when malformed."""
    parts = (text or "").split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        return None
    x0, y0, x1, y1 = (int(p) for p in parts)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def init_settings() -> None:
    """The settings' first values, set before their widgets (which then take no ``value``)."""
    for key, value in SETTINGS.items():
        st.session_state.setdefault(key, value)


def set_query(query: Query | None) -> None:
    """Make ``query`` the current one, from its first page, with no comparison open."""
    if query is not None and query.item_id is None:
        uploads = st.session_state.setdefault(UPLOADS, {})
        uploads[query.digest] = replace(query, box=None)
        for old in list(uploads)[:-UPLOADS_KEPT]:
            del uploads[old]
    st.session_state[QUERY] = query
    st.session_state[SELECTED] = None
    st.session_state[RESULTS_PAGE] = 1
    for key in (BOX_X, BOX_Y):
        st.session_state.pop(key, None)


def find_upload(digest_prefix: str) -> Query | None:
    """A recent upload of this session whose digest starts with ``digest_prefix``."""
    uploads = st.session_state.get(UPLOADS, {})
    return next(
        (q for d, q in uploads.items() if digest_prefix and d.startswith(digest_prefix)), None
    )


def search_by_item(item_id: int) -> None:
    """Callback: search by a gallery item, on the Search page."""
    set_query(Query(item_id=int(item_id)))
    st.session_state[PAGE] = PAGES[0]


def submit_search() -> None:
    """Callback of the search form: a typed item id becomes the query; new settings start at the
    first page of results."""
    item = st.session_state.get(ITEM_INPUT)
    if item is not None:
        search_by_item(int(item))
        st.session_state[ITEM_INPUT] = None
    st.session_state[RESULTS_PAGE] = 1
    st.session_state[SELECTED] = None


def search_region(box: Box | None) -> None:
    """Callback of the box tool: search by ``box`` of the current query (None: the whole image)."""
    query: Query | None = st.session_state.get(QUERY)
    if query is not None:
        st.session_state[QUERY] = replace(query, box=box)
        st.session_state[RESULTS_PAGE] = 1
        st.session_state[SELECTED] = None
    if box is None:
        for key in (BOX_X, BOX_Y):  # the sliders start again from the whole image
            st.session_state.pop(key, None)


def turn_page(step: int) -> None:
    """Callback: the next (+1) or previous (-1) page of results."""
    st.session_state[RESULTS_PAGE] = max(1, st.session_state.get(RESULTS_PAGE, 1) + step)
    st.session_state[SELECTED] = None


def select_hit(hit_id: int) -> None:
    """Callback: compare a hit with the query."""
    st.session_state[SELECTED] = hit_id


def close_detail() -> None:
    """Callback: hide the query/hit comparison."""
    st.session_state[SELECTED] = None
