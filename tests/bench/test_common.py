"""bench/common/: the helpers the benchmark scripts share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.common import results
from bench.common.search_probes import measure_index, recall, sweep
from bench.common.synthetic_photos import write_photo_gallery
from bench.common.synthetic_vectors import DATASETS, clustered_vectors
from bench.common.tables import load_average_line, not_run_note
from lodisc.index_format.vectors import FaissIndex, normalise


def test_photo_gallery_is_jpegs_in_label_folders_and_reproducible(tmp_path: Path) -> None:
    total = write_photo_gallery(tmp_path / "a", 5, 2, (64, 48), seed=3)
    paths = sorted((tmp_path / "a").rglob("*.jpg"))
    assert [p.parent.name for p in paths] == ["class_00"] * 3 + ["class_01"] * 2
    assert total == sum(p.stat().st_size for p in paths)
    with Image.open(paths[0]) as image:
        assert image.format == "JPEG" and image.size == (64, 48)
    write_photo_gallery(tmp_path / "b", 5, 2, (64, 48), seed=3)
    assert paths[0].read_bytes() == (tmp_path / "b" / "class_00" / "img_00000.jpg").read_bytes()


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_clustered_vectors_shape_and_seed(name: str) -> None:
    spec = DATASETS[name]
    x = clustered_vectors(300, 32, spec, seed=1)
    assert x.shape == (300, 32) and x.dtype == np.float32
    np.testing.assert_array_equal(x, clustered_vectors(300, 32, spec, seed=1))
    assert not np.array_equal(x, clustered_vectors(300, 32, spec, seed=2))


def test_fine_classes_have_close_members() -> None:
    spec = dict(DATASETS["fine"], centres=20, groups=5)  # 100 members per class
    x = normalise(clustered_vectors(2000, 64, spec, seed=0))
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    assert np.median(sims.max(axis=1)) > 0.8  # a fine-grained neighbour (see DATASETS)


def test_recall_counts_shared_ids() -> None:
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall(truth, truth, 3) == 1.0
    assert recall(np.array([[1, 9, 8], [6, 5, 7]]), truth, 3) == pytest.approx(0.5)


def test_sweep_restores_the_library_tuning() -> None:
    data = clustered_vectors(1500, 16, DATASETS["fine"], seed=0)
    queries = clustered_vectors(20, 16, DATASETS["fine"], seed=1)
    index = FaissIndex.build(data, np.arange(1500, dtype=np.int64), "hnsw")
    _, truth = FaissIndex.build(data, np.arange(1500, dtype=np.int64), "flat").search(queries, 5)
    tuned = index.search_params()
    points = sweep(index, queries, truth, 5)
    assert [row[0] for row in points["efSearch"]][:2] == [16, 32]
    assert all(0.0 <= row[1] <= 1.0 and row[2] > 0 for row in points["efSearch"])
    assert index.search_params() == tuned
    row = measure_index(index, queries, truth, 5)
    assert row["tuned"] == tuned and row["recall_at_10"] > 0.9


def test_record_adds_then_replaces_a_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "RESULTS", tmp_path / "RESULTS.md")
    results.record("demo", "first", ["bench/demo.py"])
    results.record("other", "kept", ["bench/other.py"])
    results.record("demo", "second", ["bench/demo.py", "--x"])
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.startswith(results.HEADER) and "first" not in text
    assert text.count("## demo") == 1 and "second" in text and "kept" in text
    assert "Command: `python bench/demo.py --x`" in text


def test_notes() -> None:
    assert load_average_line([1.0, 2.5]) == "1-minute load average 1.0 before, 2.5 after."
    note = not_run_note({"hnsw_build_s": 120})
    assert "HNSW build ~120 s" in note and "IVF-PQ" not in note
