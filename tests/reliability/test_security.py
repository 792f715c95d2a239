"""Security checks against the real server: the admin key, CORS closed by default, and no route
that takes a file path from the client (except the key-protected reload)."""

from __future__ import annotations

import hmac
from typing import Any

import httpx
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from harness.live_server import LiveServer
from service.deps import require_admin
from service.main import create_app
from tests.reliability.live_service import (
    API_KEY,
    live_server_fixture,  # noqa: F401 - live_server
)
from tests.service.conftest import make_settings

# Query parameters that are free text; each must be used as data, never as a file name.
# Text query parameters and why they name no file: labels compared in SQL, four numbers.
TEXT_QUERY_PARAMETERS = {
    ("/items", "label"),
    ("/search", "label"),
    ("/items/{item_id}/similar", "label"),
    ("/search", "box"),
}
ADMIN_PATHS = {"/admin/reload"}
# Text body fields that name no local file: a URL fetched only from public addresses, and only
# when LODISC_ALLOW_URL_FETCH is set (tests/service/test_url_fetch.py).
TEXT_BODY_FIELDS = {("/search", "image_url")}


def test_admin_refuses_missing_and_wrong_keys(live_server: LiveServer) -> None:
    url = f"{live_server.url}/admin/reload"
    missing = httpx.post(url)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "X-API-Key"
    wrong_keys = ["", "guess", API_KEY[:-1], API_KEY + "x", API_KEY.upper(), "X" + API_KEY[1:]]
    for key in wrong_keys:
        response = httpx.post(url, headers={"X-API-Key": key})
        assert response.status_code in (401, 403), key
        assert response.json()["detail"] in ("wrong API key", "missing X-API-Key header")
    right = httpx.post(url, headers={"X-API-Key": API_KEY}, timeout=60)
    assert right.status_code == 200 and right.json()["status"] == "reloaded"


def test_admin_key_is_compared_in_constant_time(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison goes through ``hmac.compare_digest`` (checked in-process with a spy)."""
    calls: list[tuple[Any, Any]] = []
    compare_digest = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr("service.deps.hmac.compare_digest", spy)
    settings = make_settings(live_server.model, live_server.index_dir, api_key=API_KEY)
    require_admin(settings, API_KEY)
    with pytest.raises(HTTPException, match="wrong API key"):
        require_admin(settings, "guess")
    assert calls == [(API_KEY.encode(), API_KEY.encode()), (b"guess", API_KEY.encode())]


def test_openapi_declares_the_admin_key(live_server: LiveServer) -> None:
    schema = httpx.get(f"{live_server.url}/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"} in schemes.values()
    for path in ADMIN_PATHS:
        assert schema["paths"][path]["post"]["security"], path


def test_cors_is_closed_by_default(live_server: LiveServer) -> None:
    origin = "http://evil.example"
    simple = httpx.get(f"{live_server.url}/healthz", headers={"Origin": origin})
    assert simple.status_code == 200
    assert not [h for h in simple.headers if h.startswith("access-control-")]
    preflight = httpx.options(
        f"{live_server.url}/search",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 405  # no CORS middleware answers it
    assert not [h for h in preflight.headers if h.startswith("access-control-")]


def test_cors_preflight_only_for_configured_origins(live_server: LiveServer) -> None:
    allowed = "http://ui.example"
    configured = make_settings(live_server.model, live_server.index_dir, cors_origins=[allowed])
    request = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x"}
    with TestClient(create_app(configured)) as client:
        good = client.options("/search", headers={"Origin": allowed, **request})
        assert good.status_code == 200
        assert good.headers["access-control-allow-origin"] == allowed
        assert "access-control-allow-credentials" not in good.headers
        bad = client.options("/search", headers={"Origin": "http://evil.example", **request})
        assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every documented route."""
    return [(p, m, op) for p, ops in schema["paths"].items() for m, op in ops.items()]


def body_fields(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The properties of an operation's request body, by name."""
    fields: dict[str, dict[str, Any]] = {}
    for content in operation.get("requestBody", {}).get("content", {}).values():
        node = content["schema"]
        for option in node.get("anyOf", [node]):
            if "$ref" in option:
                name = option["$ref"].rsplit("/", 1)[-1]
                fields |= schema["components"]["schemas"][name].get("properties", {})
    return fields


def test_no_route_takes_a_file_path_from_the_client(live_server: LiveServer) -> None:
    """Ids are integers, uploads are bytes; only the key-protected reload names files."""
    schema = httpx.get(f"{live_server.url}/openapi.json").json()
    for path, method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            types = {o.get("type") for o in parameter["schema"].get("anyOf", [parameter["schema"]])}
            if parameter["in"] == "path":
                assert types == {"integer"}, (path, parameter)
            elif parameter["in"] == "query" and "string" in types:
                assert (path, parameter["name"]) in TEXT_QUERY_PARAMETERS, (path, parameter)
        for name, field in body_fields(schema, operation).items():
            items = field.get("items", field)
            if items.get("contentMediaType") == "application/octet-stream":
                continue  # an uploaded file's bytes
            if (path, name) in TEXT_BODY_FIELDS:
                continue
            assert path in ADMIN_PATHS and operation.get("security"), (path, method, name)
    traversal = httpx.get(f"{live_server.url}/items", params={"label": "../../etc/passwd"})
    assert traversal.status_code == 200 and traversal.json()["total"] == 0
