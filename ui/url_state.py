"""The page, query, k, label filter and results page kept in the URL (``st.query_params``).

``?page=search&item=12&box=10,20,200,180&k=10&label=finch&results_page=2`` opens that search:
a link is shareable, and a reload shows the same results. Each run ends by writing the state into
the URL; Streamlit pushes a browser history entry when the URL changes, and reruns the app with
the old URL on Back, which :func:`apply_url` then reads. An upload cannot travel in a URL: it is
named by the start of its digest (``upload=...``) and found again only in the same session.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ui.session import (
    ALL_LABELS,
    K_DEFAULT,
    K_MAX,
    LABEL_FILTER,
    PAGE,
    PAGES,
    QUERY,
    RESULTS_PAGE,
    K,
    Query,
    find_upload,
    format_box,
    parse_box,
    set_query,
)

URL_SEEN = "url_seen"  # the URL parameters this session last read or wrote
DIGEST_CHARS = 16  # of an upload's sha256, in the URL
MAX_RESULTS_PAGE = 1000  # the service skips at most 10,000 results


def _number(text: str | None, low: int, high: int) -> int | None:
    """``text`` as an int in [low, high], or None."""
    return int(text) if text and text.isdigit() and low <= int(text) <= high else None


def _url_query(params: dict[str, str]) -> Query | None:
    """The query a URL names: a gallery item or an upload of this session, maybe a region."""
    box = parse_box(params.get("box"))
    item = _number(params.get("item"), 0, 2**63 - 1)
    if item is not None:
        return Query(item_id=item, box=box)
    upload = find_upload(params.get("upload", ""))
    return None if upload is None else replace(upload, box=box)


def apply_url() -> None:
    """Take the state from the URL when it is not the one this session last wrote (a first load,
    a shared link, Back or Forward); before any widget is drawn."""
    params = st.query_params.to_dict()
    if params == st.session_state.get(URL_SEEN):
        return
    st.session_state[URL_SEEN] = params
    page = params.get("page", "").capitalize()
    if page in PAGES:
        st.session_state[PAGE] = page
    k = _number(params.get("k"), 1, K_MAX)
    if k is not None:
        st.session_state[K] = k
    if "label" in params or "k" in params:
        st.session_state[LABEL_FILTER] = params.get("label", ALL_LABELS)
    query = _url_query(params)
    current: Query | None = st.session_state.get(QUERY)
    if query is None and "upload" in params:
        query = current  # an upload of another session: keep what is shown
    if query is None or current is None or query.key != current.key:
        set_query(query)
    st.session_state[RESULTS_PAGE] = _number(params.get("results_page"), 1, MAX_RESULTS_PAGE) or 1


def state_params() -> dict[str, str]:
    """The URL parameters of the current state."""
    params = {"page": st.session_state.get(PAGE, PAGES[0]).lower()}
    query: Query | None = st.session_state.get(QUERY)
    if query is not None:
        if query.item_id is not None:
            params["item"] = str(query.item_id)
        else:
            params["upload"] = query.digest[:DIGEST_CHARS]
        if query.box is not None:
            params["box"] = format_box(query.box)
    params["k"] = str(st.session_state.get(K, K_DEFAULT))
    label = st.session_state.get(LABEL_FILTER, ALL_LABELS)
    if label != ALL_LABELS:
        params["label"] = label
    results_page = st.session_state.get(RESULTS_PAGE, 1)
    if results_page > 1:
        params["results_page"] = str(results_page)
    return params


def write_url() -> None:
    """Put the state in the URL (a new browser history entry when it changed); the run's end."""
    params = state_params()
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)
    st.session_state[URL_SEEN] = params
