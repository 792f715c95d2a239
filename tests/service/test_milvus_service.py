"""The service on a Milvus Lite vector store answers as on FAISS; a rebuild upserts and deletes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("pymilvus")

from indexer.gallery_index import build_index  # noqa: E402
from lodisc.index_format.milvus_store import VectorStoreError  # noqa: E402
from lodisc.index_format.published import load_published  # noqa: E402
from service.config import Settings  # noqa: E402
from service.main import create_app  # noqa: E402


def _answers(client: TestClient, files: list[Path], k: int = 5) -> list[list[tuple[int, float]]]:
    """(id, score rounded) of /search and /items/{id}/similar for a few files."""
    out = []
    for path in files:
        response = client.post(f"/search?k={k}", files={"image": ("q.png", path.read_bytes())})
        assert response.status_code == 200, response.text
        out.append([(h["id"], round(h["score"], 4)) for h in response.json()["results"]])
    label = files[0].parent.name
    for query in (f"k={k}", f"k={k}&label={label}&offset=2", "k=3&label=no-such-label"):
        response = client.post(
            f"/search?{query}", files={"image": ("q.png", files[0].read_bytes())}
        )
        assert response.status_code == 200, response.text
        out.append([(h["id"], round(h["score"], 4)) for h in response.json()["results"]])
    similar = client.get(f"/items/{out[0][0][0]}/similar?k={k}&label={label}")
    assert similar.status_code == 200, similar.text
    out.append([(h["id"], round(h["score"], 4)) for h in similar.json()["results"]])
    assert client.post("/search?k=0", files={"image": ("q.png", b"x")}).status_code == 422
    bad = client.post("/search", files={"image": ("q.png", b"not an image")})
    out.append([(bad.status_code, bad.json()["detail"])])  # type: ignore[list-item]
    return out


def test_milvus_answers_equal_faiss_and_rebuild_upserts_deletes(
    service_model: Path,
    gallery: Path,
    client: TestClient,
    settings_for: Callable[..., Settings],
    api_key: str,
    tmp_path: Path,
) -> None:
    files = sorted(gallery.rglob("*.png"))[::8]
    store, out = str(tmp_path / "vectors.db"), tmp_path / "index"
    summary = build_index(service_model, gallery, out, "flat", "cpu", workers=0, vector_store=store)
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["vector_store"]
    assert summary["index_type"] == "milvus:FLAT" and entry["collection"].endswith("_a")
    assert not list(out.glob("gen-*/index.faiss"))
    settings = settings_for(service_model, out, vector_store=store)
    with TestClient(create_app(settings)) as milvus_client:
        assert _answers(milvus_client, files) == _answers(client, files)
        # A rebuild after one deletion and one addition writes the other collection.
        copy = tmp_path / "gallery"
        shutil.copytree(gallery, copy)
        victim = sorted(copy.rglob("*.png"))[0]
        shutil.copy(victim, victim.with_name("copy.png"))
        victim.unlink()
        build_index(service_model, copy, out, "flat", "cpu", workers=0, vector_store=store)
        entry = json.loads((out / "manifest.json").read_text())["vector_store"]
        assert entry["collection"].endswith("_b")
        assert (entry["upserted"], entry["deleted"]) == (32, 0)  # b was empty
        reload = milvus_client.post("/admin/reload", headers={"X-API-Key": api_key})
        assert reload.status_code == 200 and reload.json()["item_count"] == 32
        build_index(service_model, gallery, out, "flat", "cpu", workers=0, vector_store=store)
        entry = json.loads((out / "manifest.json").read_text())["vector_store"]
        # Back to a, which holds the first gallery: the re-added file has a new id (ids are
        # never reused), so one row is upserted and the old id deleted; nothing else is written.
        assert entry["collection"].endswith("_a")
        assert (entry["upserted"], entry["deleted"]) == (1, 1)


def test_store_setting_must_fit_the_manifest(
    service_model: Path, gallery: Path, index_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(VectorStoreError, match="LODISC_VECTOR_STORE"):
        load_published(index_dir, str(tmp_path / "vectors.db"))
    out = tmp_path / "index"
    store = str(tmp_path / "vectors.db")
    build_index(service_model, gallery, out, "flat", "cpu", workers=0, vector_store=store)
    with pytest.raises(VectorStoreError, match="LODISC_VECTOR_STORE"):
        load_published(out)
    with pytest.raises(VectorStoreError, match="LODISC_VECTOR_STORE=milvus://127.0.0.1:9"):
        load_published(out, "milvus://127.0.0.1:9")
    assert load_published(out, store).index.count == 32
