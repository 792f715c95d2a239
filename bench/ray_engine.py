"""The Ray Data engine against the local engine on one gallery, and its spread over two Ray nodes.

    python bench/ray_engine.py [--images 384] [--rounds 2] [--no-record]

Part 1: ``build_index(engine="local")`` and ``build_index(engine="ray")`` into fresh folders in
alternating rounds (the machine's load drifts), on a local Ray started once beforehand, as
``--ray-address`` to a running cluster would find it; the cluster's start is timed apart.
Goal: Ray images/s >= 0.8x the local engine's. Part 2: a two-node cluster on this machine
(``ray.cluster_utils.Cluster``), two encoder actors, and the images each node id embedded
(``embed_on_ray(node_rows=...)``). The last stdout line is JSON; the table is recorded as section
"ray_engine" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import ray
from ray.cluster_utils import Cluster

from bench.common.results import add_gallery_args, report
from bench.common.synthetic_photos import write_photo_gallery
from harness.random_model import export_random_model
from indexer.embedder import load_backend
from indexer.gallery_index import build_index
from indexer.ray_engine import embed_on_ray
from indexer.working_db import GalleryDB
from lodisc.config import EncoderConfig
from lodisc.hashing import file_sha256

GOAL = 0.8
OBJECT_STORE_BYTES = 200 * 2**20  # per node: a few batches of 224 px crops in flight


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_gallery_args(parser)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="decode workers, local engine")
    parser.add_argument("--rounds", type=int, default=2, help="alternations local / ray")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def _load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_build(
    model: Path, gallery: Path, out: Path, args: argparse.Namespace, engine: str, images: int
) -> float:
    """Wall seconds of one ``build_index`` with ``engine`` into a fresh folder."""
    start = time.perf_counter()
    summary = build_index(model, gallery, out, "auto", "cpu", args.batch_size, args.workers,
                          runtime="onnx", engine=engine)  # fmt: skip
    if summary["embedded"] != images:
        raise SystemExit(f"{engine} engine embedded {summary['embedded']} of {images}")
    return time.perf_counter() - start


def measure_engines(
    work: Path, model: Path, gallery: Path, small: Path, args: argparse.Namespace
) -> dict:
    """Local and Ray engine in alternating rounds on one local Ray, and on one batch (fixed cost)."""
    start = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    ray_start_s = time.perf_counter() - start
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    fixed: dict[str, float] = {}
    try:
        for engine in ("local", "ray"):
            out = work / f"{engine}-small"
            fixed[engine] = timed_build(model, small, out, args, engine, args.batch_size)
        for r in range(args.rounds):
            for engine in ("local", "ray"):
                out = work / f"{engine}-{r}"
                walls[engine].append(timed_build(model, gallery, out, args, engine, args.images))
    finally:
        ray.shutdown()
    rates = {e: args.images * len(w) / sum(w) for e, w in walls.items()}
    # Past the first batch: (N - one batch) / (wall - wall of a one-batch gallery).
    rest = args.images - args.batch_size
    marginal = {e: rest / (sum(w) / len(w) - fixed[e]) for e, w in walls.items()}
    return {
        "one_batch_s": {e: round(v, 1) for e, v in fixed.items()},
        "marginal_images_per_s": {e: round(v, 1) for e, v in marginal.items()},
        "marginal_ray_vs_local": round(marginal["ray"] / marginal["local"], 3),
        "local_images_per_s": round(rates["local"], 1),
        "ray_images_per_s": round(rates["ray"], 1),
        "ray_vs_local": round(rates["ray"] / rates["local"], 3),
        "round_ratios": [
            round(lo / ra, 3) for lo, ra in zip(walls["local"], walls["ray"], strict=True)
        ],
        "ray_start_s": round(ray_start_s, 1),
    }


def measure_two_nodes(work: Path, model: Path, gallery: Path, args: argparse.Namespace) -> dict:
    """Embed the gallery with two actors on a two-node cluster; images per node id."""
    cores = len(os.sched_getaffinity(0))
    node_args = {"num_cpus": cores, "object_store_memory": OBJECT_STORE_BYTES}
    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args=node_args)
    cluster.add_node(**node_args)
    node_rows: Counter[str] = Counter()
    db = GalleryDB(work / "two-nodes.sqlite")
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        cluster.wait_for_nodes()
        cluster_start_s = time.perf_counter() - start
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        backend = load_backend(model, "onnx", "cpu")
        digest = file_sha256(model)
        db.scan(gallery)
        todo = db.missing_embeddings(digest)
        start = time.perf_counter()
        failed = embed_on_ray(db, model, "onnx", "cpu", digest, backend.preprocessing, gallery,
                              todo, args.batch_size, False, actors=2, node_rows=node_rows)  # fmt: skip
        embed_s = time.perf_counter() - start
    finally:
        db.close()
        ray.shutdown()
        cluster.shutdown()
    return {
        "nodes": len(nodes),
        "images_per_node": [node_rows.get(n, 0) for n in nodes],
        "failed": len(failed),
        "cluster_start_s": round(cluster_start_s, 1),
        "embed_images_per_s": round(len(todo) / embed_s, 1),
    }


def format_table(result: dict[str, Any]) -> str:
    """RESULTS.md text."""
    engines, nodes = result["engines"], result["two_nodes"]
    met = "met" if engines["ray_vs_local"] >= GOAL else "missed"
    return "\n".join(
        [
            f"Gallery: {result['images']} JPEGs of {result['photo_size']}, {result['arch']} at "
            f"{result['img_size']} px, batch {result['batch_size']}, {result['cores']} cores. Load "
            f"average (1, 5, 15 min) before: {result['load_before']}, after: {result['load_after']}"
            f"{' (above 3: the figures are noisy)' if result['busy'] else ''}.",
            "",
            "| engine | images/s (end to end, fresh folder) |",
            "|---|---|",
            f"| local (`--workers {result['workers']}`) | {engines['local_images_per_s']} |",
            f"| ray (local cluster, 1 encoder actor per 4 CPUs) | {engines['ray_images_per_s']} |",
            "",
            f"Ray / local: **{engines['ray_vs_local']}x** (goal {GOAL}x: {met}); per round "
            f"{engines['round_ratios']}. Starting the local Ray (`ray.init()`, timed apart): "
            f"{engines['ray_start_s']} s. A one-batch gallery ({result['batch_size']} images) takes "
            f"{engines['one_batch_s']['local']} s local, {engines['one_batch_s']['ray']} s on Ray "
            "(actor start, session load); past it, images/s local "
            f"{engines['marginal_images_per_s']['local']}, Ray {engines['marginal_images_per_s']['ray']}"
            f": **{engines['marginal_ray_vs_local']}x**.",
            "",
            f"Two-node cluster on this machine (`ray.cluster_utils.Cluster`, {nodes['nodes']} nodes, "
            f"2 encoder actors): images embedded per node {nodes['images_per_node']}, "
            f"{nodes['failed']} failed, {nodes['embed_images_per_s']} images/s (both nodes share "
            f"these cores: this shows the spread, not a speed-up); cluster start "
            f"{nodes['cluster_start_s']} s.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Measure both parts, print the table and the JSON line, record the section."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    load_before = os.getloadavg()[0]
    result: dict[str, Any] = {"load_before": _load(), **{k: getattr(args, k) for k in (
        "images", "photo_size", "arch", "img_size", "batch_size", "workers")}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        width, height = (int(v) for v in args.photo_size.lower().split("x"))
        _, model = export_random_model(EncoderConfig(arch=args.arch, img_size=args.img_size), work)
        gallery = work / "gallery"
        write_photo_gallery(gallery, args.images, 8, (width, height))
        small = work / "one-batch"
        write_photo_gallery(small, args.batch_size, 8, (width, height), seed=1)
        result["engines"] = measure_engines(work, model, gallery, small, args)
        result["two_nodes"] = measure_two_nodes(work, model, gallery, args)
    result["load_after"] = _load()
    result["cores"] = len(os.sched_getaffinity(0))
    result["busy"] = max(load_before, os.getloadavg()[0]) > 3
    return report(format_table(result), result, "ray_engine", args.no_record)


if __name__ == "__main__":
    sys.exit(main())
