"""The Streamlit app run in-process by AppTest against a FakeService (no network, no model)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import ui.client
from tests.ui.conftest import fake_answer
from ui.client import ServiceError


def _png() -> bytes:
    """A 64x40 PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 40), (10, 200, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


FILE = ("bird.png", _png(), "image/png")
APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"


def submit(at: AppTest, **settings) -> AppTest:
    """Fill the search form (widget key -> value) and press its Search button (Enter does too)."""
    for key, value in settings.items():
        widget = {"k": at.slider, "explain": at.toggle, "label_filter": at.selectbox}.get(
            key, at.number_input
        )
        widget(key=key).set_value(value)
    at.button(key="search_submit").click()
    return at.run()


def upload(at: AppTest, k: int | None = None) -> AppTest:
    """Set k (when given) in the search form, then upload a query image."""
    if k is not None:
        submit(at, k=k)
    at.file_uploader(key="upload").set_value(FILE)
    return at.run()


def texts(elements) -> str:
    """All values of a list of text elements, one string."""
    return "\n".join(str(e.value) for e in elements)


def test_search_renders_k_results_with_scores_labels_and_grades(app: AppTest, fake_service):
    upload(app, k=4)
    assert not app.exception
    assert fake_service.of("search") == [("search", "bird.png", 4, True)]
    assert fake_service.options[-1] == {"box": None, "label": None, "offset": 0, "min_score": None}
    cards = [m.value for m in app.markdown if m.value.startswith("**") and ". " in m.value]
    assert cards == ["**1. sparrow**", "**2. finch**", "**3. wren**", "**4. sparrow**"]
    captions = texts(app.caption)
    for score, item_id in ((0.9, 100), (0.85, 101), (0.8, 102), (0.75, 103)):
        assert f"score {score:.3f} · id {item_id}" in captions
    assert "confidence 95%" in captions
    assert sum(b.label == "More like this" for b in app.button) == 4
    assert "model abc123def456" in captions and "index gen-7" in captions
    badges = [m.value for m in app.markdown if "-badge[" in m.value]
    assert badges == [
        ":green-badge[strong match] :violet-badge[duplicate]",
        ":orange-badge[weak match]",
        ":gray-badge[no match]",
        ":green-badge[strong match]",
    ]
    assert "Predicted label: **sparrow** (75% of the vote)" in texts(app.markdown)
    assert "Heatmap colours: dark purple = low, yellow = high" in captions
    assert not app.warning  # the top hit is a strong match


def test_no_good_match_is_said(app: AppTest, fake_service, monkeypatch: pytest.MonkeyPatch):
    answer = fake_answer(3)
    for hit in answer["results"]:
        hit["match"] = "none"
    monkeypatch.setattr(fake_service, "search", lambda *args, **kwargs: answer)
    upload(app)
    assert "No good match" in texts(app.warning)
    assert texts(app.markdown).count(":gray-badge[no match]") == 3


def test_same_query_is_sent_once_and_settings_ask_again(app: AppTest, fake_service):
    upload(app, k=3)
    app.selectbox(key="heatmap").set_value("Pivotal map").run()
    app.slider(key="overlay_opacity").set_value(0.3).run()
    assert not app.exception
    assert len(fake_service.of("search")) == 1
    app.slider(key="k").set_value(5).run()  # not sent before the form is submitted
    assert len(fake_service.of("search")) == 1
    submit(app, k=5)
    assert fake_service.of("search")[-1] == ("search", "bird.png", 5, True)
    submit(app, explain=False)
    assert fake_service.of("search")[-1] == ("search", "bird.png", 5, False)


def test_rejected_upload_shows_the_service_detail(app: AppTest, fake_service):
    fake_service.error = ServiceError("cannot decode the image: truncated PNG (HTTP 400)", 400)
    upload(app)
    assert not app.exception
    assert "cannot decode the image: truncated PNG (HTTP 400)" in texts(app.error)


def test_service_down_shows_unreachable_on_search(app: AppTest, fake_service):
    fake_service.error = ServiceError("service unreachable at http://api:8000 (refused)")
    upload(app)
    assert "service unreachable at http://api:8000" in texts(app.error)


def test_compare_draws_query_and_hit_with_correspondences(app: AppTest, fake_service):
    upload(app, k=2)
    app.button(key="detail_101").click().run()
    assert not app.exception
    assert "Query vs finch (id 101, score 0.850)" in texts(app.subheader)
    table = app.table[0].value
    assert list(table["query patch (row, col)"]) == ["(0, 0)", "(1, 2)"]
    assert list(table["hit patch (row, col)"]) == ["(3, 3)", "(2, 1)"]
    app.button(key="close_detail").click().run()
    assert not app.subheader and not app.table


def test_more_like_this_searches_by_the_item(app: AppTest, fake_service):
    upload(app, k=3)
    app.button(key="more_102").click().run()
    assert fake_service.of("similar") == [("similar", 102, 3, True)]
    assert "results for gallery item 102" in texts(app.markdown)


def test_search_by_gallery_item_id_with_the_form(app: AppTest, fake_service):
    submit(app, item_id=7)
    assert fake_service.of("similar") == [("similar", 7, 10, True)]
    assert app.number_input(key="item_id").value is None  # cleared: a later Search keeps item 7
    submit(app, k=4)
    assert fake_service.of("similar")[-1] == ("similar", 7, 4, True)


def go_to(at: AppTest, page: str) -> AppTest:
    """Switch page with the sidebar radio."""
    at.radio(key="page").set_value(page)
    return at.run()


def test_gallery_pagination_and_label_filter(app: AppTest, fake_service):
    go_to(app, "Gallery")
    assert not app.exception
    assert fake_service.of("items") == [("items", 0, 24, None)]
    assert "30 items · 2 pages" in texts(app.caption)
    app.number_input(key="gallery_page").set_value(2).run()
    assert fake_service.of("items")[-1] == ("items", 24, 24, None)
    app.selectbox(key="gallery_label").set_value("finch").run()
    assert fake_service.of("items")[-1] == ("items", 0, 24, "finch")
    app.selectbox(key="gallery_page_size").set_value(12).run()
    assert fake_service.of("items")[-1] == ("items", 0, 12, "finch")


def test_gallery_item_opens_a_search_by_it(app: AppTest, fake_service):
    go_to(app, "Gallery")
    app.button(key="gallery_search_5").click().run()
    assert app.radio(key="page").value == "Search"
    assert fake_service.of("similar") == [("similar", 5, 10, True)]


def test_links_open_a_page_or_a_search(make_app, fake_service):
    at = make_app()
    at.query_params["page"] = "gallery"
    at.run()
    assert at.radio(key="page").value == "Gallery"
    at = make_app()
    at.query_params["item"] = "12"
    at.run()
    assert at.radio(key="page").value == "Search"
    assert fake_service.of("similar") == [("similar", 12, 10, True)]


def test_gallery_service_down(app: AppTest, fake_service):
    fake_service.error = ServiceError("service unreachable at http://api:8000 (refused)")
    go_to(app, "Gallery")
    assert "Cannot list the gallery: service unreachable at http://api:8000" in texts(app.error)


def test_status_shows_model_and_index(app: AppTest, fake_service):
    go_to(app, "Status")
    assert not app.exception
    assert "Service is up (ok)." in texts(app.success)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Model version"] == "abc123def456"
    assert metrics["Indexed items"] == "30"
    assert metrics["Index type"] == "not reported"
    assert "Index generation gen-7" in texts(app.caption)


def test_status_not_ready_shows_the_reason(
    app: AppTest, fake_service, monkeypatch: pytest.MonkeyPatch
):
    def not_ready() -> dict:
        raise ServiceError("model and index are not loaded (HTTP 503)", 503)

    monkeypatch.setattr(fake_service, "status", not_ready)
    go_to(app, "Status")
    assert "Service not ready: model and index are not loaded (HTTP 503)" in texts(app.warning)


def test_status_with_no_service_listening(make_app, monkeypatch: pytest.MonkeyPatch):
    # Nothing listens on the loopback discard port: the real client's connection is refused.
    monkeypatch.setattr(ui.client, "SERVICE_URL", "http://127.0.0.1:9")
    at = make_app()
    at.session_state["page"] = "Status"
    at.run()
    assert not at.exception
    assert "Service down: service unreachable at http://127.0.0.1:9" in texts(at.error)
