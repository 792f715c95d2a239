"""Filters and paging inside the search, and batches where one bad image does not sink the rest."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient


def _upload(path: Path) -> dict[str, tuple[str, bytes, str]]:
    return {"image": ("q.png", path.read_bytes(), "image/png")}


def test_a_selective_label_filter_still_returns_k_results(
    client: TestClient, gallery_files: list[Path]
) -> None:
    label = gallery_files[0].parent.name
    members = [p for p in gallery_files if p.parent.name == label]
    other = next(p for p in gallery_files if p.parent.name != label)
    k = len(members)
    body = client.post("/search", files=_upload(other), params={"k": k, "label": label}).json()
    assert [hit["label"] for hit in body["results"]] == [label] * k
    none = client.post("/search", files=_upload(other), params={"label": "no-such-label"})
    assert none.status_code == 200 and none.json()["results"] == []


def test_offset_pages_without_gaps_or_repeats(
    client: TestClient, gallery_files: list[Path]
) -> None:
    files = _upload(gallery_files[3])
    whole = client.post("/search", files=files, params={"k": 9}).json()["results"]
    pages = [
        client.post("/search", files=files, params={"k": 3, "offset": o}).json()["results"]
        for o in (0, 3, 6)
    ]
    assert [h["id"] for page in pages for h in page] == [h["id"] for h in whole]
    assert client.post("/search", files=files, params={"offset": -1}).status_code == 422


def test_similar_items_take_label_and_offset(client: TestClient, gallery_files: list[Path]) -> None:
    label = gallery_files[0].parent.name
    first = client.get("/items/1/similar", params={"k": 4}).json()["results"]
    second = client.get("/items/1/similar", params={"k": 2, "offset": 2}).json()["results"]
    assert [h["id"] for h in second] == [h["id"] for h in first[2:4]]
    only = client.get("/items/1/similar", params={"k": 3, "label": label}).json()["results"]
    assert only and all(h["label"] == label and h["id"] != 1 for h in only)


def test_a_bad_image_in_a_batch_gets_its_own_error(
    client: TestClient, gallery_files: list[Path]
) -> None:
    good = gallery_files[1].read_bytes()
    files = [
        ("images", ("a.png", good, "image/png")),
        ("images", ("b.png", b"not an image", "image/png")),
        ("images", ("c.png", good, "image/png")),
    ]
    body = client.post("/search/batch", files=files, params={"k": 2}).json()
    first, bad, third = body["queries"]
    assert len(first["results"]) == 2 and first["results"] == third["results"]
    assert bad["results"] == [] and bad["status"] == 400 and bad["error"].startswith("images[1]")
    all_bad = [("images", ("b.png", b"nope", "image/png"))] * 2
    answer = client.post("/search/batch", files=all_bad)
    assert answer.status_code == 400 and "images[0]" in answer.json()["detail"]


def test_min_score_keeps_only_hits_at_or_above_it(
    client: TestClient, gallery_files: list[Path]
) -> None:
    files = _upload(gallery_files[3])
    whole = client.post("/search", files=files, params={"k": 9}).json()["results"]
    cut = whole[4]["score"]  # the 5th best: at least five hits reach it, the last four may not
    passing = [h["id"] for h in whole if h["score"] >= cut]
    kept = client.post("/search", files=files, params={"k": 9, "min_score": cut}).json()
    assert [h["id"] for h in kept["results"]] == passing and 5 <= len(passing) < 9
    paged = client.post("/search", files=files, params={"k": 3, "offset": 3, "min_score": cut})
    assert [h["id"] for h in paged.json()["results"]] == passing[3:6]
    similar = client.get("/items/1/similar", params={"k": 5, "min_score": 1.0}).json()
    assert all(h["score"] >= 1.0 for h in similar["results"])
    assert client.post("/search", files=files, params={"min_score": 1.5}).status_code == 422
