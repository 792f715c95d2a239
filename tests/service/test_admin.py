"""Admin key checks, reload with an atomic swap, and model/index mismatch refusal."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from lodisc.hashing import file_sha256
from lodisc.index_format.published import load_published
from service.compatibility import IndexMismatchError, check_compatible
from service.config import Settings
from service.main import create_app


@pytest.fixture()
def admin_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_admin_key_missing_wrong_or_unconfigured(
    admin_client: TestClient, settings: Settings, settings_for: Callable[..., Settings]
) -> None:
    missing = admin_client.post("/admin/reload")
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    wrong = admin_client.post("/admin/reload", headers={"X-API-Key": "guess"})
    assert wrong.status_code == 403 and wrong.json()["detail"] == "wrong API key"
    unset = settings_for(settings.model_path, settings.index_dir, api_key=None)
    with TestClient(create_app(unset)) as client:
        response = client.post("/admin/reload", headers={"X-API-Key": "anything"})
        assert response.status_code == 403 and "disabled" in response.json()["detail"]


def test_reload_swaps_and_in_flight_requests_keep_the_old_searcher(
    admin_client: TestClient, api_key: str, gallery_files: list[Path]
) -> None:
    slot = admin_client.app_state["slot"]
    old = slot.current  # what a request that started before the reload holds
    response = admin_client.post("/admin/reload", headers={"X-API-Key": api_key})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "reloaded"
    assert slot.current is not old and slot.current.model_version == old.model_version
    outcome = old.search_uploads([gallery_files[0].read_bytes()], k=1)
    assert outcome.queries[0].hits[0].hit.score == pytest.approx(1.0, abs=1e-4)
    search = admin_client.post(
        "/search", files={"image": ("a.png", gallery_files[0].read_bytes(), "image/png")}
    )
    assert search.status_code == 200


def test_reload_refuses_a_mismatched_model_with_409(
    admin_client: TestClient, api_key: str, other_model: Path, service_model: Path
) -> None:
    before = admin_client.app_state["slot"].current
    response = admin_client.post(
        "/admin/reload", headers={"X-API-Key": api_key}, json={"model_path": str(other_model)}
    )
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "model_sha256" in detail and str(other_model) in detail and "manifest.json" in detail
    assert admin_client.app_state["slot"].current is before
    assert admin_client.get("/readyz").json()["model_version"] == before.model_version
    assert before.encoder.path == service_model


def test_reload_of_missing_files_is_422(admin_client: TestClient, api_key: str) -> None:
    headers = {"X-API-Key": api_key}
    missing = admin_client.post("/admin/reload", headers=headers, json={"index_dir": "/nope"})
    assert missing.status_code == 422 and "/nope" in missing.json()["detail"]


def test_startup_refuses_a_mismatched_index_naming_the_files(
    other_model: Path, index_dir: Path, settings_for: Callable[..., Settings]
) -> None:
    with pytest.raises(IndexMismatchError) as caught:
        with TestClient(create_app(settings_for(other_model, index_dir))):
            pass
    message = str(caught.value)
    assert str(index_dir / "manifest.json") in message and str(other_model) in message


def test_compatibility_names_each_mismatch(service_model: Path, index_dir: Path) -> None:
    published = load_published(index_dir)
    sha256 = file_sha256(service_model)
    encoder = SimpleNamespace(
        embed_dim=published.index.dim, preprocessing=published.manifest["preprocessing"]
    )
    check_compatible(service_model, sha256, encoder, published)  # type: ignore[arg-type]
    wider = SimpleNamespace(embed_dim=encoder.embed_dim + 16, preprocessing=encoder.preprocessing)
    with pytest.raises(IndexMismatchError, match=r"^(?!.*model_sha256).*dim \d+ in the manifest"):
        check_compatible(service_model, sha256, wider, published)  # type: ignore[arg-type]
    other_spec = copy.deepcopy(encoder.preprocessing) | {"img_size": 64}
    resized = SimpleNamespace(embed_dim=encoder.embed_dim, preprocessing=other_spec)
    with pytest.raises(IndexMismatchError, match="preprocessing"):
        check_compatible(service_model, sha256, resized, published)  # type: ignore[arg-type]


def test_missing_settings_name_the_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from service.config import get_settings

    for name in ("LODISC_MODEL_PATH", "LODISC_INDEX_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    get_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="LODISC_MODEL_PATH, LODISC_INDEX_DIR"):
            with TestClient(create_app()):
                pass
    finally:
        get_settings.cache_clear()
