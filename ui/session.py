"""What the UI remembers between reruns (``st.session_state``) and the callbacks that change it.

Callbacks run before the next rerun, so they may set widget keys such as the page radio; a page
can thus send the user to the Search page with a new query.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import streamlit as st

PAGES = ("Search", "Gallery", "Status")
PAGE = "page"  # the sidebar radio
QUERY = "query"  # the current Query
ANSWER = "answer"  # the Answer to the current query
SELECTED = "selected"  # id of the hit shown in detail, or None
ITEM_INPUT = "item_id"  # number input of the Search page
LINK_READ = "link_read"  # the URL's query parameters were applied


@dataclass(frozen=True)
class Query:
    """An uploaded image or a gallery item to search by."""

    item_id: int | None = None
    filename: str = ""
    data: bytes = b""
    digest: str = ""

    @classmethod
    def from_upload(cls, filename: str, data: bytes) -> Query:
        """A query by uploaded image bytes."""
        return cls(filename=filename, data=data, digest=hashlib.sha256(data).hexdigest())

    @property
    def key(self) -> tuple[str, str]:
        """Identifies the query, so the same one is not sent twice."""
        if self.item_id is not None:
            return ("item", str(self.item_id))
        return ("upload", self.digest)

    @property
    def title(self) -> str:
        """How the page names the query."""
        return f"gallery item {self.item_id}" if self.item_id is not None else self.filename


@dataclass(frozen=True)
class Answer:
    """The service's answer (or error message) for one query, k and explain setting."""

    signature: tuple[Any, ...]
    response: dict[str, Any] | None = None
    error: str | None = None


def set_query(query: Query) -> None:
    """Make ``query`` the current one and close any open detail."""
    st.session_state[QUERY] = query
    st.session_state[SELECTED] = None


def search_by_item(item_id: int) -> None:
    """Callback: search by a gallery item, on the Search page."""
    set_query(Query(item_id=int(item_id)))
    st.session_state[PAGE] = PAGES[0]


def search_by_item_input() -> None:
    """Callback of the Search page's "search by item" button."""
    search_by_item(int(st.session_state[ITEM_INPUT]))


def select_hit(hit_id: int) -> None:
    """Callback: show a hit next to the query."""
    st.session_state[SELECTED] = hit_id


def close_detail() -> None:
    """Callback: hide the query/hit comparison."""
    st.session_state[SELECTED] = None


def apply_link() -> None:
    """Once per browser session, honour ``?page=Gallery`` and ``?item=7`` (search by item 7)."""
    if st.session_state.get(LINK_READ):
        return
    st.session_state[LINK_READ] = True
    page = st.query_params.get("page", "").capitalize()
    if page in PAGES:
        st.session_state[PAGE] = page
    item = st.query_params.get("item", "")
    if item.isdigit():
        search_by_item(int(item))
