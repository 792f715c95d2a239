"""Pictures fetched from the service (cached by URL) and overlays blended on them."""

from __future__ import annotations

from typing import Any

import streamlit as st
from PIL import Image

from ui.client import ServiceClient, ServiceError
from ui.drawing import ImageDecodeError, blend_overlay, decode_data_uri, make_thumbnail, open_rgb

THUMB_SIDE = 256
DETAIL_SIDE = 720
CACHE_TTL_S = 600
LABELS_TTL_S = 60  # a reindex may add labels


@st.cache_data(ttl=CACHE_TTL_S, max_entries=1024, show_spinner=False)
def fetch_bytes(_api: ServiceClient, url: str) -> bytes:
    """Bytes at a service URL; item images and overlays change only with the index."""
    return _api.fetch(url)


def load_picture(api: ServiceClient, url: str | None, side: int) -> Image.Image | None:
    """The image at ``url`` scaled to ``side`` on its longer side, or None when it cannot be had."""
    if not url:
        return None
    try:
        return make_thumbnail(open_rgb(fetch_bytes(api, api.url(url))), side)
    except (ServiceError, ImageDecodeError):
        return None


def hit_overlay(api: ServiceClient, hit: dict[str, Any], side: int) -> Image.Image | None:
    """A hit's overlay: inline data URI when the answer has one, else fetched from its URL."""
    if hit.get("overlay"):
        return decode_picture(hit["overlay"], side)
    return load_picture(api, hit.get("overlay_url"), side)


def decode_picture(data_uri: str | None, side: int) -> Image.Image | None:
    """An image from a data URI, or None when absent or unreadable."""
    if not data_uri:
        return None
    try:
        return make_thumbnail(open_rgb(decode_data_uri(data_uri)), side)
    except ImageDecodeError:
        return None


def with_overlay(
    picture: Image.Image, overlay: Image.Image | None, show: bool, opacity: float
) -> Image.Image:
    """``picture`` with ``overlay`` blended on when asked and available."""
    if not show or overlay is None:
        return picture
    return blend_overlay(picture, overlay, opacity)


@st.cache_data(ttl=LABELS_TTL_S, show_spinner=False)
def fetch_labels(_api: ServiceClient) -> list[str]:
    """The gallery's labels; a failure raises and so is not cached."""
    return [name for name, _ in _api.labels()]


def load_labels(api: ServiceClient) -> list[str]:
    """The gallery's labels, or none when the service cannot list them (the filter then offers
    only "All labels")."""
    try:
        return fetch_labels(api)
    except ServiceError:
        return []
