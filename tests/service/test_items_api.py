"""Gallery endpoints, health, metrics, CORS and docs through the app."""

from __future__ import annotations

import io
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lodisc.index_format.layout import CATALOG_FILE
from lodisc.index_format.manifest import read_manifest, write_manifest
from lodisc.index_format.published import generation_checksums
from service.config import Settings
from service.main import create_app


def test_browse_pages_filter_and_labels(client: TestClient) -> None:
    first = client.get("/items", params={"limit": 5}).json()
    assert first["total"] == 32 and len(first["items"]) == 5
    assert [entry["count"] for entry in first["labels"]] == [8, 8, 8, 8]
    second = client.get("/items", params={"offset": 5, "limit": 5}).json()
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 10
    label = first["labels"][1]["label"]
    filtered = client.get("/items", params={"label": label, "limit": 50}).json()
    assert filtered["total"] == 8 and {i["label"] for i in filtered["items"]} == {label}
    assert client.get("/items", params={"limit": 0}).status_code == 422
    assert client.get("/items", params={"offset": -1}).status_code == 422


def test_item_image_is_the_gallery_file(client: TestClient, gallery: Path) -> None:
    item = client.get("/items", params={"limit": 1}).json()["items"][0]
    assert client.get(f"/items/{item['id']}").json() == item
    response = client.get(item["image_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    relative = client.app_state["slot"].current.gallery.item(item["id"]).path
    assert response.content == (gallery / relative).read_bytes()


def test_item_overlay_is_a_png_of_the_image_size(client: TestClient) -> None:
    response = client.get("/items/3/overlay")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    overlay = Image.open(io.BytesIO(response.content))
    assert overlay.format == "PNG" and overlay.size == (32, 32) and overlay.mode == "RGB"


def test_similar_items_leave_the_item_out(client: TestClient) -> None:
    body = client.get("/items/7/similar", params={"k": 5}).json()
    ids = [hit["id"] for hit in body["results"]]
    assert len(ids) == 5 and 7 not in ids
    assert [h["score"] for h in body["results"]] == sorted(
        [h["score"] for h in body["results"]], reverse=True
    )
    explained = client.get("/items/7/similar", params={"k": 2, "explain": True}).json()
    assert all(len(hit["correspondences"]) == 5 for hit in explained["results"])
    assert "query_overlay" not in explained  # the query is an item: /items/7/overlay has it
    assert client.get("/items/7/similar", params={"k": 51}).status_code == 422


@pytest.mark.parametrize("suffix", ["", "/image", "/overlay", "/similar"])
def test_unknown_item_is_404(client: TestClient, suffix: str) -> None:
    response = client.get(f"/items/999999{suffix}")
    assert response.status_code == 404 and "999999" in response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/items/..%2F..%2Fetc%2Fpasswd/image", "/items/%2Fetc%2Fpasswd/image", "/items/1.5"]
)
def test_client_named_paths_are_not_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 422) and "root:" not in response.text


def test_catalog_paths_outside_the_gallery_are_refused(
    settings: Settings, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir)
    gallery_root = Path(read_manifest(index_dir)["gallery_root"])
    secret = gallery_root.parent / "secret.png"
    shutil.copy(next(gallery_root.rglob("*.png")), secret)
    catalog = index_dir / read_manifest(index_dir)["generation"] / CATALOG_FILE
    with sqlite3.connect(catalog) as db:
        db.execute("UPDATE items SET path = '../secret.png' WHERE id = 1")
        db.execute("UPDATE items SET path = '/etc/passwd' WHERE id = 2")
    manifest = read_manifest(index_dir)  # a catalog written so on purpose, not corrupted
    manifest["files"] = generation_checksums(catalog.parent)
    write_manifest(index_dir, manifest)
    try:
        with TestClient(create_app(settings_for(settings.model_path, index_dir))) as client:
            for item_id in (1, 2):
                response = client.get(f"/items/{item_id}/image")
                assert response.status_code == 404
                assert response.json()["detail"].endswith("is not available")
            assert client.get("/items/3/image").status_code == 200
            query = (
                gallery_root / client.app_state["slot"].current.gallery.item(3).path
            ).read_bytes()
            explained = client.post(
                "/search",
                files={"image": ("q.png", query, "image/png")},
                params={"k": 32, "explain": True},
            )
            assert explained.status_code == 200  # unavailable hits come back unexplained
            hits = {hit["id"]: hit for hit in explained.json()["results"]}
            assert "correspondences" not in hits[1] and "correspondences" not in hits[2]
            assert len(hits[3]["correspondences"]) == 5
    finally:
        secret.unlink()


def test_health_readiness_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["item_count"] == 32
    assert "/search" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_readyz_is_503_until_loaded(settings: Settings) -> None:
    client = TestClient(create_app(settings))  # no ``with``: the lifespan has not run
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_and_stages(client: TestClient, gallery: Path) -> None:
    path = next(gallery.rglob("*.png"))
    client.post("/search", files={"image": (path.name, path.read_bytes(), "image/png")})
    client.get("/no/such/route")
    text = client.get("/metrics").text
    assert 'lodisc_http_requests_total{method="POST",route="/search",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    for stage in ("decode", "embed", "search"):
        assert f'lodisc_stage_seconds_count{{stage="{stage}"}}' in text
    assert "lodisc_encoder_batch_size_bucket" in text


def test_cors_only_for_configured_origins(
    client: TestClient, settings: Settings, settings_for: Callable[..., Settings]
) -> None:
    origin = {"Origin": "http://ui.example"}
    assert "access-control-allow-origin" not in client.get("/healthz", headers=origin).headers
    allowed = settings_for(
        settings.model_path, settings.index_dir, cors_origins=["http://ui.example"]
    )
    with TestClient(create_app(allowed)) as cors_client:
        headers = cors_client.get("/healthz", headers=origin).headers
        assert headers["access-control-allow-origin"] == "http://ui.example"
        other = cors_client.get("/healthz", headers={"Origin": "http://evil.example"}).headers
        assert "access-control-allow-origin" not in other
