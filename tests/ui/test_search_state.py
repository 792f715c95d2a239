"""Search state the person can rely on: the URL (shareable, Back), settings kept across pages,
the box tool, the label filter and paging reaching the service."""

from __future__ import annotations

import io

from PIL import Image
from streamlit.testing.v1 import AppTest

FILE_SIZE = (64, 40)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", FILE_SIZE, (10, 200, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


FILE = ("bird.png", _png(), "image/png")


def submit(at: AppTest, **settings) -> AppTest:
    """Fill the search form (widget key -> value) and press Search."""
    widgets = {"k": at.slider, "explain": at.toggle, "label_filter": at.selectbox}
    for key, value in settings.items():
        widgets.get(key, at.number_input)(key=key).set_value(value)
    at.button(key="search_submit").click()
    return at.run()


def pager_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Page "))


def test_url_round_trip_gives_the_same_query_k_and_page(app: AppTest, make_app, fake_service):
    submit(app, item_id=12, k=5)
    app.button(key="page_next").click().run()
    assert not app.exception
    assert fake_service.options[-1]["offset"] == 5
    params = dict(app.query_params)
    assert params == {"page": "search", "item": "12", "k": "5", "results_page": "2"}
    # Another browser opens the link.
    shared = make_app()
    shared.query_params.update(params)
    shared.run()
    assert not shared.exception
    assert fake_service.of("similar")[-1] == ("similar", 12, 5, True)
    assert fake_service.options[-1]["offset"] == 5
    assert shared.slider(key="k").value == 5
    assert pager_caption(shared) == "Page 2 · results 6-10"
    assert "results for gallery item 12" in "\n".join(m.value for m in shared.markdown)
    assert dict(shared.query_params) == params


def test_back_returns_to_the_earlier_search(app: AppTest, fake_service):
    submit(app, item_id=3)
    earlier = dict(app.query_params)
    app.button(key="more_101").click().run()
    assert app.query_params["item"] == "101"
    # Back: Streamlit reruns the app with the earlier URL.
    app.query_params.clear()
    app.query_params.update(earlier)
    app.run()
    assert fake_service.of("similar")[-1] == ("similar", 3, 10, True)
    assert dict(app.query_params) == earlier


def test_back_to_an_upload_of_this_session(app: AppTest, fake_service):
    app.file_uploader(key="upload").set_value(FILE).run()
    earlier = dict(app.query_params)
    assert len(earlier["upload"]) == 16
    app.button(key="more_100").click().run()
    app.query_params.clear()
    app.query_params.update(earlier)
    app.run()
    assert "results for bird.png" in "\n".join(m.value for m in app.markdown)


def test_settings_are_kept_across_pages(app: AppTest, fake_service):
    submit(app, item_id=4, k=7, explain=False, label_filter="finch")
    app.selectbox(key="heatmap").set_value("Pivotal map").run()
    app.slider(key="overlay_opacity").set_value(0.25).run()
    searches = len(fake_service.of("similar"))
    for page in ("Gallery", "Status", "Search"):
        app.radio(key="page").set_value(page).run()
        assert not app.exception
    assert app.slider(key="k").value == 7
    assert app.toggle(key="explain").value is False
    assert app.selectbox(key="label_filter").value == "finch"
    assert app.selectbox(key="heatmap").value == "Pivotal map"
    assert app.slider(key="overlay_opacity").value == 0.25
    assert len(fake_service.of("similar")) == searches  # the answer was kept, not asked again
    assert app.query_params["label"] == "finch"


def test_label_filter_and_paging_use_label_and_offset(app: AppTest, fake_service):
    submit(app, item_id=9, k=4, label_filter="wren")
    assert fake_service.options[-1] == {
        "box": None,
        "label": "wren",
        "offset": 0,
        "min_score": None,
    }
    app.button(key="page_next").click().run()
    app.button(key="page_next").click().run()
    assert fake_service.options[-1] == {
        "box": None,
        "label": "wren",
        "offset": 8,
        "min_score": None,
    }
    assert pager_caption(app) == "Page 3 · results 9-12"
    app.button(key="page_prev").click().run()
    assert fake_service.options[-1]["offset"] == 4
    submit(app, label_filter="All labels")  # new settings start again at page 1
    assert fake_service.options[-1] == {"box": None, "label": None, "offset": 0, "min_score": None}


def test_box_tool_searches_by_the_region(app: AppTest, fake_service):
    app.file_uploader(key="upload").set_value(FILE).run()
    assert app.slider(key="box_x").value == (0, FILE_SIZE[0])
    assert app.slider(key="box_y").value == (0, FILE_SIZE[1])
    app.slider(key="box_x").set_value((10, 40))
    app.slider(key="box_y").set_value((5, 30)).run()
    assert "region 10,5,40,30 of 64×40 pixels" in "\n".join(c.value for c in app.caption)
    assert fake_service.options[-1]["box"] is None  # the preview alone sends nothing
    app.button(key="box_search").click().run()
    assert not app.exception
    assert fake_service.options[-1]["box"] == (10, 5, 40, 30)
    assert fake_service.of("search")[-1] == ("search", "bird.png", 10, True)
    assert app.query_params["box"] == "10,5,40,30"
    app.button(key="box_clear").click().run()
    assert fake_service.options[-1]["box"] is None
    assert "box" not in app.query_params


def test_box_on_a_gallery_item_sends_its_image(make_app, fake_service):
    at = make_app()
    at.query_params.update({"item": "7", "box": "1,2,30,20", "k": "3"})
    at.run()
    assert not at.exception
    # The fake gallery image is 48 x 32: the sliders show the box from the link.
    assert at.slider(key="box_x").value == (1, 30)
    assert fake_service.of("search") == [("search", "item-7", 3, True)]
    assert fake_service.options[-1]["box"] == (1, 2, 30, 20)


def test_gallery_controls_are_kept_across_pages(app: AppTest, fake_service):
    app.radio(key="page").set_value("Gallery").run()
    app.selectbox(key="gallery_label").set_value("finch").run()
    app.number_input(key="gallery_page").set_value(2).run()
    app.radio(key="page").set_value("Search").run()
    app.radio(key="page").set_value("Gallery").run()
    assert not app.exception
    assert app.selectbox(key="gallery_label").value == "finch"
    assert fake_service.of("items")[-1] == ("items", 24, 24, "finch")


def test_minimum_score_goes_to_the_service_and_zero_means_none(app: AppTest, fake_service):
    submit(app, item_id=12, min_score=0.8)
    assert not app.exception and fake_service.options[-1]["min_score"] == 0.8
    app.button(key="page_next").click().run()
    assert fake_service.options[-1]["min_score"] == 0.8  # kept across pages
    submit(app, min_score=0.0)
    assert fake_service.options[-1]["min_score"] is None
