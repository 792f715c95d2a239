"""The Ray Data engine gives the local engine's index (on a local 2-CPU Ray)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from indexer import build_index as cli  # noqa: E402
from indexer.gallery_index import build_index  # noqa: E402
from indexer.ray_engine import EmbedActor, RayEngineError, check_reachable  # noqa: E402
from indexer.working_db import GalleryDB  # noqa: E402
from lodisc.index_format.published import load_published  # noqa: E402


class CrashOnceActor(EmbedActor):
    """Kills its own process on its first batch (once: a marker file remembers)."""

    marker = ""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()  # noqa: SIM115
            os._exit(1)  # the actor's worker process dies mid-job
        return super().__call__(batch)


class NodeRecordingActor(EmbedActor):
    """Writes the id of the node it starts on to a file of its own in ``folder``."""

    folder = ""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        node = ray.get_runtime_context().get_node_id()
        with open(os.path.join(self.folder, f"{os.getpid()}.node"), "w") as handle:
            handle.write(node)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray for the module (starting one costs seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # The test module is not importable by name in Ray's workers: ship its classes by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


def test_unreachable_address_fails_fast_naming_it(
    tiny_onnx: Path, gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.perf_counter()
    with pytest.raises(RayEngineError, match="127.0.0.1:9"):
        check_reachable("127.0.0.1:9")
    args = ["--model", str(tiny_onnx), "--gallery", str(gallery), "--out", str(tmp_path / "i")]
    assert cli.main([*args, "--engine", "ray", "--ray-address", "ray://127.0.0.1:9"]) == 2
    assert "ray://127.0.0.1:9" in capsys.readouterr().err
    assert time.perf_counter() - start < 30


def _vectors(index_dir: Path) -> tuple[list[tuple[int, str]], np.ndarray, np.ndarray]:
    published = load_published(index_dir)
    items = [(i.id, i.path) for i in published.catalog.page(0, 1000)[0]]
    ids = np.array([i for i, _ in items])
    assert published.tokens is not None
    return items, published.index.index.reconstruct_batch(ids), published.tokens.of(ids)


def test_ray_and_local_engines_publish_the_same_index(
    local_ray: None, tiny_onnx: Path, gallery: Path, tmp_path: Path
) -> None:
    (gallery / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # fails to decode
    local = build_index(tiny_onnx, gallery, tmp_path / "local", workers=0, batch_size=8)
    on_ray = build_index(tiny_onnx, gallery, tmp_path / "ray", batch_size=8, engine="ray")
    assert on_ray["embedded"] == local["embedded"] == 16
    assert on_ray["unreadable"] == local["unreadable"] >= 1
    local_items, local_vectors, local_tokens = _vectors(tmp_path / "local")
    ray_items, ray_vectors, ray_tokens = _vectors(tmp_path / "ray")
    assert ray_items == local_items
    assert np.abs(ray_vectors - local_vectors).max() < 1e-5
    assert np.abs(ray_tokens - local_tokens).max() < 1e-3  # float16 storage
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("local", "ray")]
    for key in ("model_sha256", "dim", "preprocessing", "item_count", "index_type"):
        assert manifests[0][key] == manifests[1][key]
    again = build_index(tiny_onnx, gallery, tmp_path / "ray", batch_size=8, engine="ray")
    assert again["embedded"] == 0 and not again["republished"]  # the content-hash cache holds


def test_a_killed_actor_is_restarted_and_the_job_completes(
    local_ray: None, tiny_onnx: Path, gallery: Path, tmp_path: Path
) -> None:
    from indexer.embedder import load_backend
    from indexer.publish_changes import publish_if_changed
    from indexer.ray_engine import embed_on_ray
    from lodisc.hashing import file_sha256

    local = build_index(tiny_onnx, gallery, tmp_path / "local", workers=0, batch_size=8)
    out = tmp_path / "crash"
    out.mkdir()
    backend = load_backend(tiny_onnx, "onnx", "cpu")
    model = file_sha256(tiny_onnx)
    CrashOnceActor.marker = str(tmp_path / "crashed")
    db = GalleryDB(out / "gallery.sqlite")
    try:
        db.scan(gallery)
        todo = db.missing_embeddings(model)
        failed = embed_on_ray(
            db, tiny_onnx, "onnx", "cpu", model, backend.preprocessing, gallery, todo, 8,
            False, actor=CrashOnceActor,
        )  # fmt: skip
        assert Path(CrashOnceActor.marker).exists() and failed == []
        publish_if_changed(db, backend, model, gallery, out, "auto")
    finally:
        db.close()
    assert local["embedded"] == len(todo)
    local_items, local_vectors, _ = _vectors(tmp_path / "local")
    crash_items, crash_vectors, _ = _vectors(out)
    assert crash_items == local_items and np.abs(crash_vectors - local_vectors).max() < 1e-5


@pytest.mark.slow  # two Ray nodes start in about 30 s on 2 busy cores (bench/ray_engine.py too)
def test_work_spreads_over_two_nodes(tiny_onnx: Path, gallery: Path, tmp_path: Path) -> None:
    from collections import Counter

    from ray.cluster_utils import Cluster

    from indexer.embedder import load_backend
    from indexer.ray_engine import embed_on_ray
    from lodisc.hashing import file_sha256

    if ray.is_initialized():
        ray.shutdown()  # a module-scoped local Ray may still be up
    node_args = {"num_cpus": 2, "object_store_memory": 80 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args=node_args)
    cluster.add_node(**node_args)
    backend = load_backend(tiny_onnx, "onnx", "cpu")
    model = file_sha256(tiny_onnx)
    db = GalleryDB(tmp_path / "gallery.sqlite")
    node_rows: Counter[str] = Counter()
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        cluster.wait_for_nodes()
        # A node counts as alive before the scheduler sees its CPUs; placed earlier, both actors
        # (SPREAD is best effort) went to the head node once on busy cores.
        deadline = time.monotonic() + 60
        while ray.available_resources().get("CPU", 0) < 2 * node_args["num_cpus"]:
            assert time.monotonic() < deadline, ray.available_resources()
            time.sleep(0.2)
        db.scan(gallery)
        todo = db.missing_embeddings(model)
        NodeRecordingActor.folder = str(tmp_path)
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # as in local_ray
        failed = embed_on_ray(
            db, tiny_onnx, "onnx", "cpu", model, backend.preprocessing, gallery, todo, 2,
            False, actors=2, node_rows=node_rows, actor=NodeRecordingActor,
        )  # fmt: skip
    finally:
        db.close()
        ray.shutdown()
        cluster.shutdown()
    assert failed == [] and sum(node_rows.values()) == len(todo)
    actor_nodes = {path.read_text() for path in tmp_path.glob("*.node")}
    assert len(actor_nodes) == 2, actor_nodes  # one encoder actor on each node
    # Which actor embeds which block is Ray Data's choice: in a job this short one actor takes
    # them all now and then (1 run in 8), so the rows are only checked to come from those actors.
    assert set(node_rows) <= actor_nodes, node_rows
