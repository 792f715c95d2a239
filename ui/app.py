"""LoDisc retrieval UI: ``streamlit run ui/app.py`` (service at ``LODISC_SERVICE_URL``).

Talks to the service over HTTP only; the pages live in ``ui/views``. The page, the query and its
settings live in the URL (``ui/url_state.py``), so a link or a reload shows the same search.
"""

import streamlit as st

from ui.client import SERVICE_URL, ServiceClient
from ui.session import PAGE, PAGES, init_settings
from ui.url_state import apply_url, write_url
from ui.views.gallery import render_gallery
from ui.views.search import render_search
from ui.views.status import render_status

st.set_page_config(page_title="LoDisc retrieval", page_icon=":mag:", layout="wide")


@st.cache_resource
def get_client(base_url: str) -> ServiceClient:
    """One pooled HTTP client per service URL for the whole Streamlit server."""
    return ServiceClient(base_url)


api = get_client(SERVICE_URL)
init_settings()
apply_url()

with st.sidebar:
    st.title("LoDisc retrieval")
    page = st.radio("Page", PAGES, key=PAGE)
    st.caption(f"Service: {api.base_url}")

renderers = {"Search": render_search, "Gallery": render_gallery, "Status": render_status}
renderers[page](api)
write_url()
