"""Incremental, resumable, crash-safe indexing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer import build_index as cli
from indexer.gallery_index import build_index
from lodisc.data.image_folders import load_rgb
from lodisc.index_format.published import load_published
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.onnx_encoder import OnnxEncoder

REPO = Path(__file__).resolve().parents[2]


def _build(model: Path, gallery: Path, out: Path, **kwargs: object) -> dict:
    return build_index(model, gallery, out, workers=0, batch_size=8, **kwargs)  # type: ignore[arg-type]


def test_manifest_catalog_and_self_retrieval(
    tiny_onnx: Path, gallery: Path, tmp_path: Path
) -> None:
    summary = _build(tiny_onnx, gallery, tmp_path / "idx")
    assert summary["items"] == summary["added"] == 16 and summary["index_type"] == "IDMap2,Flat"
    published = load_published(tmp_path / "idx")
    manifest = published.manifest
    for key in (
        "model_sha256",
        "dim",
        "preprocessing",
        "metric",
        "index_type",
        "item_count",
        "built_at",
    ):
        assert key in manifest
    assert manifest["item_count"] == 16 and manifest["dim"] == 64
    items, total = published.catalog.page(0, 100)
    assert total == 16 and {i.label for i in items} == set(os.listdir(gallery))
    encoder = OnnxEncoder(tiny_onnx)
    images = [load_rgb(gallery / item.path) for item in items]
    queries = encoder.run(preprocess_batch(images, encoder.preprocessing)).embedding
    scores, ids = published.index.search(queries, 1)
    assert ids[:, 0].tolist() == [item.id for item in items]  # every image is its own top-1
    assert np.allclose(scores[:, 0], 1.0, atol=1e-4)


def test_incremental_add_change_delete_keeps_ids(
    tiny_onnx: Path, gallery: Path, tmp_path: Path
) -> None:
    out = tmp_path / "idx"
    _build(tiny_onnx, gallery, out)
    before = {i.path: i.id for i in load_published(out).catalog.page(0, 100)[0]}
    first_class = sorted(os.listdir(gallery))[0]
    victim, changed = sorted((gallery / first_class).iterdir())[:2]
    victim.unlink()
    Image.new("RGB", (32, 32), "purple").save(changed)
    shutil.copy(
        gallery
        / sorted(os.listdir(gallery))[1]
        / sorted(os.listdir(gallery / sorted(os.listdir(gallery))[1]))[0],
        gallery / first_class / "new.png",
    )
    summary = _build(tiny_onnx, gallery, out)
    assert (summary["added"], summary["changed"], summary["removed"]) == (1, 1, 1)
    assert summary["embedded"] == 1  # the copy has a known content hash: only the changed file
    after = {i.path: i.id for i in load_published(out).catalog.page(0, 100)[0]}
    rel = lambda p: p.relative_to(gallery).as_posix()  # noqa: E731
    assert rel(victim) not in after and after[rel(changed)] == before[rel(changed)]
    assert after[f"{first_class}/new.png"] > max(before.values())
    assert all(after[p] == before[p] for p in before if p in after)
    again = _build(tiny_onnx, gallery, out)
    assert again["embedded"] == 0 and not again["republished"]
    other = _build(tiny_onnx, gallery, out, index_kind="hnsw")
    assert other["embedded"] == 0 and other["index_type"] == "IDMap2,HNSW32,Flat"


def test_kill_mid_run_keeps_old_index_and_resumes(
    tiny_onnx: Path, gallery: Path, tmp_path: Path
) -> None:
    out, reference = tmp_path / "idx", tmp_path / "reference"
    _build(tiny_onnx, gallery, out)
    old_generation = load_published(out).manifest["generation"]
    extra = gallery / "extra"
    extra.mkdir()
    rng = np.random.default_rng(0)
    for i in range(300):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(extra / f"{i}.png")
    args = [
        sys.executable,
        str(REPO / "indexer" / "build_index.py"),
        "--model",
        str(tiny_onnx),
        "--gallery",
        str(gallery),
        "--out",
        str(out),
        "--batch-size",
        "4",
        "--workers",
        "0",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "gallery.sqlite"
    deadline = time.time() + 60
    import sqlite3

    while time.time() < deadline:
        with sqlite3.connect(db, timeout=5) as con:
            if con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] > 40:
                break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    survivor = load_published(out)  # the previous index still loads and serves
    assert survivor.manifest["generation"] == old_generation and survivor.index.count == 16
    with sqlite3.connect(db) as con:
        done = con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert 16 < done < 316
    resumed = _build(tiny_onnx, gallery, out)
    assert resumed["embedded"] == 316 - done and resumed["items"] == 316
    clean = _build(tiny_onnx, gallery, reference)
    a, b = load_published(out), load_published(reference)
    paths_a = {i.path: i.id for i in a.catalog.page(0, 1000)[0]}
    paths_b = {i.path: i.id for i in b.catalog.page(0, 1000)[0]}
    assert set(paths_a) == set(paths_b)
    for path in list(paths_a)[::25]:
        assert np.allclose(
            a.index.reconstruct(paths_a[path]), b.index.reconstruct(paths_b[path]), atol=1e-6
        )
    assert clean["items"] == 316


def test_bad_input_is_a_clear_error(
    tiny_onnx: Path, gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        cli.main(
            [
                "--model",
                str(tiny_onnx),
                "--gallery",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "gallery folder not found" in capsys.readouterr().err
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_bytes(b"garbage")
    assert (
        cli.main(
            ["--model", str(bad_model), "--gallery", str(gallery), "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "bad.onnx" in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / "cls").mkdir(parents=True)
    (empty / "cls" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    assert (
        cli.main(
            ["--model", str(tiny_onnx), "--gallery", str(empty), "--out", str(tmp_path / "o2")]
        )
        == 2
    )
    assert "no readable images" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "--model",
                str(tiny_onnx),
                "--gallery",
                str(gallery),
                "--out",
                str(tmp_path / "o3"),
                "--index",
                "Nonsense42",
            ]
        )
        == 2
    )
    assert "factory" in capsys.readouterr().err
