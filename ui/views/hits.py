"""The results: a card per hit (its picture under the chosen heatmap, its match grade) and the
query/hit comparison, opened in a dialog so the page under it does not move."""

from __future__ import annotations

from typing import Any

import streamlit as st
from PIL import Image

from ui.client import ServiceClient
from ui.drawing import answer_grid, draw_correspondences
from ui.heatmap import blend_heat
from ui.session import HEATMAP_MODES, close_detail, search_by_item, select_hit
from ui.views.pictures import (
    DETAIL_SIDE,
    THUMB_SIDE,
    decode_picture,
    hit_overlay,
    load_picture,
    with_overlay,
)

COLUMNS = 5  # cards per row on a wide screen; Streamlit stacks columns on a narrow one
MATCH_MAP, PIVOTAL_MAP, NO_HEATMAP = HEATMAP_MODES
MATCH_BADGES = {
    "strong": ":green-badge[strong match]",
    "weak": ":orange-badge[weak match]",
    "none": ":gray-badge[no match]",
}
DUPLICATE_BADGE = ":violet-badge[duplicate]"


def match_badges(hit: dict[str, Any]) -> str:
    """Markdown badges of a hit's ``match`` grade and ``duplicate`` flag ("" when it has none)."""
    badges = [MATCH_BADGES[hit["match"]]] if hit.get("match") in MATCH_BADGES else []
    if hit.get("duplicate"):
        badges.append(DUPLICATE_BADGE)
    return " ".join(badges)


def hit_caption(hit: dict[str, Any]) -> str:
    """Score, id and (calibrated answers) confidence of a hit."""
    caption = f"score {hit['score']:.3f} · id {hit['id']}"
    if hit.get("confidence") is not None:
        caption += f" · confidence {hit['confidence']:.0%}"
    return caption


def with_heatmap(
    picture: Image.Image,
    api: ServiceClient,
    hit: dict[str, Any],
    heatmap: str,
    opacity: float,
) -> Image.Image:
    """A hit's picture under its match map (what drove this match) or its own pivotal map."""
    if heatmap == MATCH_MAP and hit.get("match_map"):
        return blend_heat(picture, hit["match_map"], hit.get("crop_box"), opacity)
    if heatmap == PIVOTAL_MAP:
        return with_overlay(picture, hit_overlay(api, hit, max(picture.size)), True, opacity)
    return picture


def render_results(
    api: ServiceClient, hits: list[dict[str, Any]], heatmap: str, opacity: float
) -> None:
    """The results grid."""
    for start in range(0, len(hits), COLUMNS):
        row = enumerate(hits[start : start + COLUMNS], start + 1)
        for col, (rank, hit) in zip(st.columns(COLUMNS), row, strict=False):
            with col.container(border=True):
                render_card(api, rank, hit, heatmap, opacity)


def render_card(
    api: ServiceClient, rank: int, hit: dict[str, Any], heatmap: str, opacity: float
) -> None:
    """One result card: picture, label, match badges, score, and its two buttons."""
    picture = load_picture(api, hit.get("image_url"), THUMB_SIDE)
    if picture is None:
        st.caption("image unavailable")
    else:
        st.image(with_heatmap(picture, api, hit, heatmap, opacity))
    st.markdown(f"**{rank}. {hit.get('label', '')}**")
    badges = match_badges(hit)
    if badges:
        st.markdown(badges)
    st.caption(hit_caption(hit))
    st.button("Compare", key=f"detail_{hit['id']}", on_click=select_hit, args=(hit["id"],))
    st.button("More like this", key=f"more_{hit['id']}", on_click=search_by_item, args=(hit["id"],))


@st.dialog("Query and hit", width="large", on_dismiss=close_detail)
def render_comparison(
    api: ServiceClient,
    query_picture: Image.Image | None,
    response: dict[str, Any],
    hit: dict[str, Any],
    heatmap: str,
    opacity: float,
) -> None:
    """Query and hit side by side under their heatmaps, matched patches joined by lines."""
    st.subheader(f"Query vs {hit.get('label', '')} (id {hit['id']}, score {hit['score']:.3f})")
    badges = match_badges(hit)
    if badges:
        st.markdown(badges)
    hit_picture = load_picture(api, hit.get("image_url"), DETAIL_SIDE)
    if query_picture is None or hit_picture is None:
        st.warning("The query or the hit image could not be loaded.")
    else:
        render_pair(api, query_picture, hit_picture, response, hit, heatmap, opacity)
    more_col, close_col = st.columns(2)
    if more_col.button("More like this", key="detail_more"):
        search_by_item(hit["id"])
        st.rerun()
    if close_col.button("Close comparison", key="close_detail"):
        close_detail()
        st.rerun()


def render_pair(
    api: ServiceClient,
    query_picture: Image.Image,
    hit_picture: Image.Image,
    response: dict[str, Any],
    hit: dict[str, Any],
    heatmap: str,
    opacity: float,
) -> None:
    """The two pictures: one canvas with the correspondences when explained, else side by side."""
    if heatmap == MATCH_MAP and hit.get("query_match_map"):
        query_view = blend_heat(
            query_picture, hit["query_match_map"], response.get("query_crop_box"), opacity
        )
    elif heatmap == PIVOTAL_MAP:
        query_view = with_overlay(query_picture, query_overlay(response), True, opacity)
    else:
        query_view = query_picture
    hit_view = with_heatmap(hit_picture, api, hit, heatmap, opacity)
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
        st.info("Turn on 'Explain matches' to see the match maps and patch correspondences.")


def query_overlay(response: dict[str, Any]) -> Image.Image | None:
    """The query's pivotal map from the answer."""
    return decode_picture(response.get("query_overlay"), DETAIL_SIDE)


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
