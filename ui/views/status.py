"""Status page: is the service up, and which model and index does it serve."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.client import ServiceClient, ServiceError


def render_status(api: ServiceClient) -> None:
    """The Status page: liveness (/healthz), then what is served (/readyz)."""
    st.header("Service status")
    st.caption(f"Service URL: {api.base_url}")
    try:
        health = api.health()
    except ServiceError as err:
        st.error(f"Service down: {err.message}")
        return
    st.success(f"Service is up ({health.get('status', 'ok')}).")
    try:
        ready = api.status()
    except ServiceError as err:
        st.warning(f"Service not ready: {err.message}")
        return
    render_ready(ready)


def render_ready(ready: dict[str, Any]) -> None:
    """Model version, index size, type and version from the /readyz answer."""
    index_version = ready.get("index_version") or {}
    if not isinstance(index_version, dict):
        index_version = {"generation": str(index_version)}
    model_col, size_col, type_col = st.columns(3)
    model_col.metric("Model version", str(ready.get("model_version", "not reported")))
    size_col.metric("Indexed items", str(ready.get("item_count", "not reported")))
    type_col.metric("Index type", str(ready.get("index_type", "not reported")))
    st.caption(
        f"Index generation {index_version.get('generation', '?')}, "
        f"built {index_version.get('built_at', '?')} · status {ready.get('status', '?')}"
    )
    with st.expander("Full /readyz answer"):
        st.json(ready)
