"""ServiceClient against httpx.MockTransport: requests sent, answers decoded, errors mapped."""

from __future__ import annotations

import json

import httpx
import pytest

from ui.client import ServiceClient, ServiceError, label_counts

BASE = "http://svc:8000"


def client_for(handler) -> tuple[ServiceClient, list[httpx.Request]]:
    """A client whose requests go to ``handler``; the list collects them."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return ServiceClient(BASE, transport=httpx.MockTransport(record)), seen


def test_search_posts_the_image_as_multipart_with_k_and_explain():
    answer = {"results": [{"id": 3, "score": 0.9, "label": "wren", "image_url": "/items/3/image"}]}
    api, seen = client_for(lambda request: httpx.Response(200, json=answer))
    assert api.search(b"PNGDATA", "q.png", 7, explain=True) == answer
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/search"
    assert dict(request.url.params) == {"k": "7", "explain": "true", "inline": "false"}
    body = request.read()
    assert b'name="image"; filename="q.png"' in body and b"PNGDATA" in body


def test_similar_items_and_urls():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/items":
            page = {"items": [], "total": 0, "labels": [{"label": "wren", "count": 4}]}
            return httpx.Response(200, json=page)
        return httpx.Response(200, json={"results": []})

    api, seen = client_for(handler)
    assert api.similar(5, 3, explain=False) == {"results": []}
    assert seen[0].url.path == "/items/5/similar"
    assert dict(seen[0].url.params) == {"k": "3", "explain": "false", "inline": "false"}
    assert api.items(20, 10)["labels"] == [("wren", 4)]
    assert dict(seen[1].url.params) == {"offset": "20", "limit": "10"}
    api.items(0, 10, label="wren")
    assert dict(seen[2].url.params) == {"offset": "0", "limit": "10", "label": "wren"}
    assert api.item_image_url(9) == f"{BASE}/items/9/image"
    assert api.url("/items/9/overlay") == f"{BASE}/items/9/overlay"
    assert api.url("http://elsewhere/x.png") == "http://elsewhere/x.png"


def test_fetch_returns_bytes():
    api, seen = client_for(lambda request: httpx.Response(200, content=b"\x89PNG"))
    assert api.fetch("/items/1/overlay") == b"\x89PNG"
    assert str(seen[0].url) == f"{BASE}/items/1/overlay"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"detail": "cannot decode the image"}, "cannot decode the image (HTTP 400)"),
        (413, {"detail": "image is over the limit"}, "image is over the limit (HTTP 413)"),
        (
            422,
            {"detail": [{"loc": ["query", "k"], "msg": "must be <= 50", "type": "x"}]},
            "k: must be <= 50 (HTTP 422)",
        ),
        (404, {"detail": "item 99 not found"}, "item 99 not found (HTTP 404)"),
        (503, {"detail": "model and index are not loaded"}, "not loaded (HTTP 503)"),
    ],
)
def test_error_answers_raise_with_the_detail(status, body, message):
    api, _ = client_for(lambda request: httpx.Response(status, json=body))
    with pytest.raises(ServiceError) as caught:
        api.search(b"x", "q.jpg", 5)
    assert caught.value.message.endswith(message)
    assert caught.value.status_code == status
    assert "Traceback" not in str(caught.value)


def test_error_without_json_uses_the_text():
    api, _ = client_for(lambda request: httpx.Response(502, text="Bad Gateway from proxy"))
    with pytest.raises(ServiceError, match=r"Bad Gateway from proxy \(HTTP 502\)"):
        api.health()


def test_non_json_success_is_an_error():
    api, _ = client_for(lambda request: httpx.Response(200, text="<html>"))
    with pytest.raises(ServiceError, match="did not answer JSON"):
        api.status()


def test_connection_error_says_unreachable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api, _ = client_for(refuse)
    with pytest.raises(ServiceError) as caught:
        api.health()
    assert caught.value.message.startswith(f"service unreachable at {BASE}")
    assert caught.value.status_code is None


def test_real_refused_connection_on_loopback():
    with pytest.raises(ServiceError, match=r"service unreachable at http://127\.0\.0\.1:9"):
        ServiceClient("http://127.0.0.1:9/").health()


def test_label_counts_accepts_objects_and_pairs():
    assert label_counts([{"label": "a", "count": 2}, ["b", 3]]) == [("a", 2), ("b", 3)]
    assert label_counts(None) == []


def test_answers_are_json_objects():
    api, _ = client_for(lambda request: httpx.Response(200, content=json.dumps([1, 2])))
    with pytest.raises(ServiceError, match="not a JSON object"):
        api.health()


def test_search_sends_box_label_and_offset():
    api, seen = client_for(lambda request: httpx.Response(200, json={"results": []}))
    api.search(
        b"PNGDATA", "q.png", 5, explain=False, box=(10, 20, 200, 180.5), label="wren", offset=10
    )
    assert dict(seen[0].url.params) == {
        "k": "5",
        "explain": "false",
        "inline": "false",
        "box": "10,20,200,180.5",
        "label": "wren",
        "offset": "10",
    }
    api.similar(4, 5, label="wren", offset=5)
    assert dict(seen[1].url.params) == {
        "k": "5",
        "explain": "true",
        "inline": "false",
        "label": "wren",
        "offset": "5",
    }


def test_labels_reads_one_item_page():
    page = {"items": [], "total": 3, "labels": [{"label": "wren", "count": 3}]}
    api, seen = client_for(lambda request: httpx.Response(200, json=page))
    assert api.labels() == [("wren", 3)]
    assert dict(seen[0].url.params) == {"offset": "0", "limit": "1"}


def test_the_service_key_goes_with_every_request():
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"results": []})

    keyed = ServiceClient(BASE, transport=httpx.MockTransport(record), api_key="reader")
    keyed.similar(5, 3, explain=False)
    keyed.fetch(keyed.item_image_url(5))
    assert [request.headers.get("x-api-key") for request in seen] == ["reader", "reader"]
    ServiceClient(BASE, transport=httpx.MockTransport(record), api_key=None).similar(5, 3, False)
    assert "x-api-key" not in seen[-1].headers
