"""LODISC_READ_API_KEY: searching and browsing need a key (the read or the admin key); health,
metrics and docs stay open; the schema declares the key only where it is required."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.config import Settings
from service.main import create_app
from tests.service.conftest import API_KEY

READ_KEY = "test-read-key"


def test_reads_need_the_read_or_the_admin_key(
    settings: Settings, gallery_files: list[Path]
) -> None:
    keyed = settings.model_copy(update={"read_api_key": SecretStr(READ_KEY)})
    files = {"image": ("q.png", gallery_files[0].read_bytes(), "image/png")}
    with TestClient(create_app(keyed)) as client:
        assert client.post("/search", files=files).status_code == 401
        assert client.get("/items/1/similar").status_code == 401
        assert client.get("/items", headers={"X-API-Key": "guess"}).status_code == 403
        for key in (READ_KEY, API_KEY):
            headers = {"X-API-Key": key}
            assert client.post("/search", files=files, headers=headers).status_code == 200
            assert client.get("/items/1/image", headers=headers).status_code == 200
        for open_path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
            assert client.get(open_path).status_code == 200, open_path
        reload = client.post("/admin/reload", headers={"X-API-Key": READ_KEY})
        assert reload.status_code == 403  # the read key is not an admin key
        schema = client.get("/openapi.json").json()
    search = schema["paths"]["/search"]["post"]
    assert search["security"] == [{"APIKeyHeader": []}] and {"401", "403"} <= set(
        search["responses"]
    )
    assert "security" in schema["paths"]["/items/{item_id}/image"]["get"]
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_without_a_read_key_reads_are_open_and_undeclared(
    client: TestClient, gallery_files: list[Path]
) -> None:
    files = {"image": ("q.png", gallery_files[0].read_bytes(), "image/png")}
    assert client.post("/search", files=files).status_code == 200
    assert "security" not in client.get("/openapi.json").json()["paths"]["/search"]["post"]
