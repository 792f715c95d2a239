"""``/docs`` works offline (its assets come from the app, not a CDN) and ``/`` points to it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_docs_page_loads_only_local_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert assets and all(not a.startswith("http") for a in assets), assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000 or asset.endswith(".png")
    assert client.get("/openapi.json").json()["paths"]["/search"]


def test_home_points_to_docs_and_ui(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "href='/docs'" in page.text and "http://localhost:8501" in page.text
