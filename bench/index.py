"""Gallery indexing throughput against the bare ONNX encoder, and FAISS build/search/recall at scale.

Part 1 exports a random-init ViT to ONNX, writes a gallery of photo-sized JPEGs (500x375 by
default) and times ``indexer.build_index.build_index`` end to end into a fresh folder each round,
alternating with the bare encoder (``OnnxEncoder.run``) on pre-decoded batches of the same size, since
the machine's load drifts. Goal: indexer images/s >= 0.85x the encoder's. A breakdown follows: fixed
costs (model load, scan + hash), decode cost, and one instrumented indexer run that splits its wall
time into encoder calls, waiting for decoded batches, and the rest.

Part 2 builds ``FaissIndex.build(kind="auto")`` on clustered vectors (see ``DATASETS``) at each size,
plus ``kind="ivfpq"`` at the largest size, and measures build time, single-query and 64-query batch
latency and recall@10 against exact search (``IndexFlatIP``) on held-out queries, with the library's
tuned search parameters and a sweep around them. Latency is measured with one FAISS thread (the
service's default ``search_threads``), with FAISS's default thread count, and with the BLAS threshold
the library sets replaced by ``4 * dim``. Goal: recall@10 >= 0.95 for the chosen index. A stress set
(an isotropic mixture, no low-dimensional structure) is run at one size to show how recall depends
on the data.

The last stdout line is JSON; the tables are recorded as section "index" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from PIL import Image, ImageDraw

import indexer.build_index as build_module
from bench.common.results import record
from indexer.build_index import build_index
from indexer.embedder import OnnxBackend, decoded_batches, load_backend
from indexer.working_db import GalleryDB, list_gallery_files
from lodisc.checkpoint import save_checkpoint
from lodisc.config import EncoderConfig
from lodisc.index_format.vectors import FaissIndex, choose_factory, normalise
from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.onnx_encoder import OnnxEncoder
from lodisc.models.encoder import Encoder
from training import export_onnx

GOALS = {"index_vs_encoder": 0.85, "recall_at_10": 0.95}
BATCH_QUERIES = 64
SWEEP = {
    "efSearch": (16, 32, 64, 128, 256, 512, 1024),
    "nprobe": (8, 16, 32, 64, 128, 256),
    "k_factor": (1, 2, 4, 8, 16, 32, 64),
}
JOINT_IVF = ((128, 16), (128, 32), (256, 64))  # (nprobe, k_factor) pairs for hard data
# Mixtures of class centres on the unit sphere. "fine": classes nested in groups (genera) around a
# shared direction, so random pairs have cosine ~0.15, same-group ~0.4, same-class ~0.7, and each class
# varies in its own rank-16 subspace plus small isotropic noise: a nearest neighbour at cosine
# ~0.85-0.9, like fine-grained embeddings. "isotropic": plain Gaussian clusters in all 384 dimensions,
# where every in-class distance is about equal (no low-dimensional structure): a worst case for ANN.
DATASETS: dict[str, dict[str, float]] = {
    "fine": {"centres": 2000, "groups": 50, "shared": 0.4, "group_w": 0.6, "class_w": 0.6,
             "rank": 16, "spread": 0.6, "noise": 0.15},
    "isotropic": {"centres": 2000, "groups": 0, "shared": 0.0, "group_w": 0.0, "class_w": 1.0,
                  "rank": 0, "spread": 0.0, "noise": 0.7},
}  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "indexer", "faiss"], default="all")
    group = parser.add_argument_group("part 1: indexer vs encoder")
    group.add_argument("--arch", default="vit_tiny_patch16_224")
    group.add_argument("--img-size", type=int, default=224)
    group.add_argument("--images", type=int, default=384, help="gallery JPEGs")
    group.add_argument("--photo-size", default="500x375", help="gallery image WIDTHxHEIGHT")
    group.add_argument("--classes", type=int, default=8, help="gallery label folders")
    group.add_argument("--batch-size", type=int, default=32)
    group.add_argument("--workers", type=int, default=2, help="decode workers of the indexer")
    group.add_argument("--rounds", type=int, default=3, help="alternations encoder / indexer")
    group = parser.add_argument_group("part 2: FAISS")
    group.add_argument("--sizes", default="10000,100000", help="vector counts, comma-separated")
    group.add_argument("--dim", type=int, default=384)
    group.add_argument("--queries", type=int, default=200)
    group.add_argument("--k", type=int, default=10)
    group.add_argument("--no-ivfpq", action="store_true", help="skip ivfpq at the largest size")
    group.add_argument(
        "--stress-size", type=int, default=100_000, help="isotropic stress set size (0: skip)"
    )
    group.add_argument(
        "--what-if-efc",
        default="80",
        help="efConstruction values to also try for HNSW at the largest size (empty: none)",
    )
    parser.add_argument("--section", default="index", help="RESULTS.md section name")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------- part 1


def write_gallery(
    root: Path, count: int, classes: int, size: tuple[int, int], seed: int = 0
) -> int:
    """``count`` photo-like JPEGs (smooth colour field, shapes, sensor noise) in label folders.

    Returns:
        Total bytes written.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    total = 0
    for i in range(count):
        folder = root / f"class_{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        field = rng.integers(0, 256, (4 + i % 3, 5 + i % 4, 3), dtype=np.uint8)
        image = Image.fromarray(field).resize((width, height), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 9))):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            w, h = int(rng.integers(20, width // 2)), int(rng.integers(20, height // 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
            else:
                draw.polygon([(x0, y0), (x0 + w, y0), (x0, y0 + h)], fill=colour)
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 6, (height, width, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        path = folder / f"img_{i:05d}.jpg"
        image.save(path, format="JPEG", quality=90)
        total += path.stat().st_size
    return total


def export_model(work: Path, arch: str, img_size: int) -> Path:
    """A random-init encoder checkpoint exported to ONNX."""
    cfg = EncoderConfig(arch=arch, img_size=img_size)
    save_checkpoint(work / "model.pt", {"encoder": Encoder(cfg).state_dict()}, cfg)
    model = work / "model.onnx"
    if export_onnx.main(["--checkpoint", str(work / "model.pt"), "--out", str(model)]) != 0:
        raise SystemExit("ONNX export failed")
    return model


def encoder_pass(encoder: OnnxEncoder, arrays: np.ndarray, batch: int) -> tuple[float, float]:
    """Wall and process-CPU seconds to encode every array in batches of ``batch``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(arrays), batch):
        encoder.run(arrays[start : start + batch])
    return time.perf_counter() - wall, time.process_time() - cpu


def indexer_pass(
    model: Path, gallery: Path, out: Path, args: argparse.Namespace
) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one ``build_index`` into a fresh folder, and its summary."""
    start = time.perf_counter()
    summary = build_index(
        model, gallery, out, "auto", "cpu", args.batch_size, args.workers, runtime="onnx"
    )
    if summary["embedded"] != args.images:
        raise SystemExit(f"indexer embedded {summary['embedded']} of {args.images}: {summary}")
    return time.perf_counter() - start, summary


def instrumented_pass(
    model: Path, gallery: Path, out: Path, args: argparse.Namespace
) -> dict[str, float]:
    """One indexer run with its encoder calls and its waits for decoded batches timed.

    Wraps ``OnnxBackend.embed`` and the ``decoded_batches`` generator that ``build_index`` uses (in
    this process only, restored afterwards); the rest is model load, scan, SQLite, FAISS, publish.
    """
    spent = {"embed": 0.0, "wait": 0.0, "first_wait": -1.0}
    embed, batches = OnnxBackend.embed, build_module.decoded_batches

    def timed_embed(self: OnnxBackend, batch: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        try:
            return embed(self, batch)
        finally:
            spent["embed"] += time.perf_counter() - start

    def timed_batches(*a: Any, **kw: Any) -> Iterator[Any]:
        source = iter(batches(*a, **kw))
        while True:
            start = time.perf_counter()
            try:
                item = next(source)
            except StopIteration:
                spent["wait"] += time.perf_counter() - start
                return
            spent["wait"] += time.perf_counter() - start
            if spent["first_wait"] < 0:
                spent["first_wait"] = spent["wait"]
            yield item

    OnnxBackend.embed, build_module.decoded_batches = timed_embed, timed_batches  # type: ignore[method-assign]
    try:
        wall, _ = indexer_pass(model, gallery, out, args)
    finally:
        OnnxBackend.embed, build_module.decoded_batches = embed, batches  # type: ignore[method-assign]
    return {"wall": wall, **spent, "other": wall - spent["embed"] - spent["wait"]}


def decode_pass(
    gallery: Path, spec: dict[str, Any], batch: int, workers: int
) -> tuple[float, float]:
    """Wall and this-process CPU seconds of decoding the gallery as the indexer does, no encoder."""
    paths = [p.relative_to(gallery).as_posix() for p in list_gallery_files(gallery)]
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in decoded_batches(gallery, paths, spec, batch, workers):
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_indexer(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Indexer end to end vs bare encoder in alternating rounds, then a breakdown."""
    width, height = (int(v) for v in args.photo_size.lower().split("x"))
    model = export_model(work, args.arch, args.img_size)
    gallery = work / "gallery"
    nbytes = write_gallery(gallery, args.images, args.classes, (width, height))
    encoder = OnnxEncoder(model, "cpu")
    spec = encoder.preprocessing
    arrays = preprocess_batch([load_rgb(p) for p in list_gallery_files(gallery)], spec)
    encoder.run(arrays[: args.batch_size])  # warm-up
    enc_wall: list[float] = []
    enc_cpu: list[float] = []
    idx_wall: list[float] = []
    summary: dict[str, Any] = {}
    for r in range(args.rounds):
        wall, cpu = encoder_pass(encoder, arrays, args.batch_size)
        enc_wall.append(wall)
        enc_cpu.append(cpu)
        wall, summary = indexer_pass(model, gallery, work / f"index-{r}", args)
        idx_wall.append(wall)
    n = args.images
    encoder_rate = n * len(enc_wall) / sum(enc_wall)
    indexer_rate = n * len(idx_wall) / sum(idx_wall)

    # Breakdown: the fixed costs and the decode work the indexer adds to the encoder's.
    split = instrumented_pass(model, gallery, work / "index-instrumented", args)
    start = time.perf_counter()
    load_backend(model, "onnx", "cpu")
    session_s = time.perf_counter() - start
    db = GalleryDB(work / "scan-probe.sqlite")
    start = time.perf_counter()
    db.scan(gallery)
    scan_s = time.perf_counter() - start
    db.close()
    decode0_wall, decode0_cpu = decode_pass(gallery, spec, args.batch_size, 0)
    decodew_wall, _ = decode_pass(gallery, spec, args.batch_size, args.workers)
    enc_core_ms = 1000 * sum(enc_cpu) / (n * len(enc_cpu))  # core-ms per image, encoder
    dec_core_ms = 1000 * decode0_cpu / n  # core-ms per image, decode + preprocess
    # With every core busy, the indexer spends encoder + decode core time per image; the bare
    # encoder only the former (at the same parallel efficiency).
    ceiling = enc_core_ms / (enc_core_ms + dec_core_ms)
    fixed_ceiling = (n / encoder_rate) / (n / encoder_rate + session_s + scan_s)
    return {
        "index_vs_encoder": round(indexer_rate / encoder_rate, 3),
        "indexer_images_per_s": round(indexer_rate, 2),
        "encoder_images_per_s": round(encoder_rate, 2),
        "round_ratios": [round(e / i, 3) for e, i in zip(enc_wall, idx_wall, strict=True)],
        "indexer_summary_seconds": summary.get("seconds"),
        "index_type": summary.get("index_type"),
        "images": n,
        "photo_size": args.photo_size,
        "jpeg_kb_mean": round(nbytes / n / 1024, 1),
        "batch_size": args.batch_size,
        "workers": args.workers,
        "cores": len(os.sched_getaffinity(0)),
        "breakdown": {
            "session_load_s": round(session_s, 3),
            "scan_s": round(scan_s, 3),
            "decode_core_ms_per_image": round(dec_core_ms, 2),
            "decode_only_images_per_s_workers0": round(n / decode0_wall, 1),
            "decode_only_images_per_s_workers": round(n / decodew_wall, 1),
            "encoder_core_ms_per_image": round(enc_core_ms, 2),
            "encoder_wall_ms_per_image": round(1000 / encoder_rate, 2),
            "cpu_bound_ceiling": round(ceiling, 3),
            "fixed_cost_ceiling": round(fixed_ceiling, 3),
            "combined_ceiling": round(ceiling * fixed_ceiling, 3),
            "instrumented_wall_s": round(split["wall"], 2),
            "instrumented_embed_s": round(split["embed"], 2),
            "instrumented_embed_ms_per_image": round(1000 * split["embed"] / n, 2),
            "instrumented_wait_s": round(split["wait"], 2),
            "instrumented_first_batch_wait_s": round(split["first_wait"], 2),
            "instrumented_other_s": round(split["other"], 2),
        },
    }


# ----------------------------------------------------------------------------- part 2


def clustered(n: int, dim: int, spec: dict[str, float], seed: int) -> np.ndarray:
    """``n`` draws (not normalised) from the fixed mixture ``spec`` (see ``DATASETS``)."""
    model = np.random.default_rng(12345)  # the mixture itself: the same for data and queries

    def units(count: int) -> np.ndarray:
        return normalise(model.standard_normal((count, dim), dtype=np.float32))

    count, groups, rank = int(spec["centres"]), int(spec["groups"]), int(spec["rank"])
    centres = spec["class_w"] * units(count)
    centres += spec["shared"] * units(1)
    if groups:
        centres += spec["group_w"] * units(groups)[np.arange(count) % groups]
    centres = normalise(centres)
    basis = model.standard_normal((count, rank, dim), dtype=np.float32) / math.sqrt(dim)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, count, n)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= spec["noise"] / math.sqrt(dim)
    for start in range(0, n, 65536):
        x[start : start + 65536] += centres[labels[start : start + 65536]]
    if rank:
        z = rng.standard_normal((n, rank), dtype=np.float32) * (spec["spread"] / math.sqrt(rank))
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(count + 1))
        for c in range(count):
            rows = order[bounds[c] : bounds[c + 1]]
            if len(rows):
                x[rows] += z[rows] @ basis[c]
    return x


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean |found top-k ∩ true top-k| / k."""
    return float(
        np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)])
    )


def single_query_ms(index: FaissIndex, queries: np.ndarray, k: int) -> list[float]:
    """Milliseconds per one-query ``search``."""
    times = []
    for row in queries:
        start = time.perf_counter()
        index.search(row[None, :], k)
        times.append(1000 * (time.perf_counter() - start))
    return times


def batch_ms(index: FaissIndex, queries: np.ndarray, k: int, repeats: int = 5) -> float:
    """Median milliseconds per ``search`` of a 64-query batch."""
    times = []
    for r in range(repeats):
        batch = np.roll(queries, -r * 13, axis=0)[:BATCH_QUERIES]
        start = time.perf_counter()
        index.search(batch, k)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def latency(index: FaissIndex, queries: np.ndarray, k: int) -> dict[str, float]:
    """p50/p95 ms of single queries and ms per 64-query batch, in the current thread setting."""
    single = single_query_ms(index, queries, k)
    return {
        "p50": round(float(np.percentile(single, 50)), 3),
        "p95": round(float(np.percentile(single, 95)), 3),
        "batch64": round(batch_ms(index, queries, k), 2),
    }


def knobs(index: FaissIndex) -> dict[str, Any]:
    """The search-time parameter objects of an index: hnsw, ivf and refine (None if absent)."""
    base = faiss.downcast_index(index.index.index) if hasattr(index.index, "index") else None
    return {
        "hnsw": base.hnsw if isinstance(base, faiss.IndexHNSW) else None,
        "ivf": faiss.try_extract_index_ivf(index.index),
        "refine": base if isinstance(base, faiss.IndexRefine) else None,
    }


def tuned(index: FaissIndex) -> dict[str, int]:
    """The search parameters the library set."""
    parts = knobs(index)
    values = {}
    if parts["hnsw"] is not None:
        values["efSearch"] = int(parts["hnsw"].efSearch)
    if parts["ivf"] is not None:
        values["nprobe"] = int(parts["ivf"].nprobe)
    if parts["refine"] is not None:
        values["k_factor"] = int(parts["refine"].k_factor)
    return values


def set_knobs(index: FaissIndex, values: dict[str, int]) -> None:
    """Set efSearch, nprobe and/or k_factor."""
    parts = knobs(index)
    for name, value in values.items():
        if name == "efSearch":
            parts["hnsw"].efSearch = value
        elif name == "nprobe":
            parts["ivf"].nprobe = min(value, parts["ivf"].nlist)
        else:
            parts["refine"].k_factor = float(value)


def probe(
    index: FaissIndex, queries: np.ndarray, truth: np.ndarray, k: int, values: dict[str, int]
) -> list[float]:
    """[recall@k, mean single-query ms on 50 queries] with ``values`` set."""
    set_knobs(index, values)
    _, ids = index.search(queries, k)
    ms = float(np.mean(single_query_ms(index, queries[:50], k)))
    return [round(recall(ids, truth, k), 4), round(ms, 3)]


def sweep(
    index: FaissIndex, queries: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, list[list[Any]]]:
    """Recall@k and single-query ms per value of each knob (the others as tuned), then restore."""
    base = tuned(index)
    out: dict[str, list[list[Any]]] = {}
    for name in base:
        out[name] = [[v, *probe(index, queries, truth, k, {name: v})] for v in SWEEP[name]]
        set_knobs(index, base)
    if "nprobe" in base and "k_factor" in base:
        out["nprobe,k_factor"] = [
            [f"{p},{f}", *probe(index, queries, truth, k, {"nprobe": p, "k_factor": f})]
            for p, f in JOINT_IVF
        ]
        set_knobs(index, base)
    return out


def measure_index(
    index: FaissIndex, queries: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, Any]:
    """Recall, latencies (1 thread; FAISS default threads; 1 thread with BLAS threshold 4*d), sweep."""
    _, ids = index.search(queries, k)
    default_threads = faiss.omp_get_max_threads()
    row: dict[str, Any] = {"recall_at_10": round(recall(ids, truth, k), 4), "tuned": tuned(index)}
    faiss.omp_set_num_threads(1)
    try:
        row["ms_1_thread"] = latency(index, queries, k)
        threshold = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = 4 * index.dim
        row["ms_1_thread_blas_4d"] = latency(index, queries, k)
        faiss.cvar.distance_compute_blas_threshold = threshold
        row["sweep"] = sweep(index, queries, truth, k) if row["tuned"] else {}
    finally:
        faiss.omp_set_num_threads(default_threads)
    row[f"ms_{default_threads}_threads"] = latency(index, queries, k)
    return row


def measure_faiss(args: argparse.Namespace) -> dict[str, Any]:
    """Every size with kind auto, ivfpq at the largest, and the stress set; see the docstring."""
    sizes = sorted(int(s) for s in args.sizes.split(","))
    runs = [("fine", n, n == sizes[-1] and not args.no_ivfpq) for n in sizes]
    if args.stress_size:
        runs.append(("isotropic", args.stress_size, not args.no_ivfpq))
    rows: list[dict[str, Any]] = []
    for data_name, n, with_ivfpq in runs:
        spec = DATASETS[data_name]
        queries = clustered(args.queries, args.dim, spec, seed=1)
        start = time.perf_counter()
        data = clustered(n, args.dim, spec, seed=1000 + n)
        gen_s = time.perf_counter() - start
        exact = faiss.IndexFlatIP(args.dim)
        exact.add(normalise(data))
        sims, truth = exact.search(normalise(queries), args.k)
        del exact
        kinds = ["auto"]
        if with_ivfpq and choose_factory(n, args.dim) != choose_factory(n, args.dim, "ivfpq"):
            kinds.append("ivfpq")
        for kind in kinds:
            start = time.perf_counter()
            index = FaissIndex.build(data, np.arange(n, dtype=np.int64), kind)
            build_s = time.perf_counter() - start
            row = {
                "data": data_name,
                "n": n,
                "kind": kind,
                "factory": index.factory,
                "build_s": round(build_s, 2),
                "size_mb": round(faiss.serialize_index(index.index).nbytes / 2**20, 1),
                **measure_index(index, queries, truth, args.k),
                "data_stats": {
                    "generate_s": round(gen_s, 1),
                    "top1_cos": round(float(sims[:, 0].mean()), 3),
                    "top10_cos": round(float(sims[:, -1].mean()), 3),
                },
            }
            del index
            if (
                data_name == "fine"
                and kind == "auto"
                and "HNSW" in row["factory"]
                and n == sizes[-1]
                and args.what_if_efc
            ):
                efcs = [int(v) for v in args.what_if_efc.split(",")]
                row["what_if_efConstruction"] = what_if_hnsw(
                    row["factory"], data, queries, truth, args.k, efcs
                )
            rows.append(row)
            print(json.dumps(row), flush=True)
        del data
    return {"faiss": rows, "faiss_threads": faiss.omp_get_max_threads()}


def what_if_hnsw(
    factory: str,
    data: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
    efcs: list[int],
) -> list[dict[str, float]]:
    """The library's HNSW factory built with other ``efConstruction`` values (it keeps FAISS's 40).

    Returns:
        Per value: build seconds and recall@k at efSearch 64 and at the library's value.
    """
    out = []
    for efc in efcs:
        raw: Any = faiss.index_factory(data.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        hnsw: Any = faiss.downcast_index(raw.index)
        hnsw.hnsw.efConstruction = efc
        start = time.perf_counter()
        raw.add_with_ids(normalise(data), np.arange(len(data), dtype=np.int64))
        build_s = time.perf_counter() - start
        index = FaissIndex(raw, factory)  # the library's search-time tuning
        ef = tuned(index)["efSearch"]
        out.append(
            {
                "efConstruction": efc,
                "build_s": round(build_s, 2),
                "recall_ef64": probe(index, queries, truth, k, {"efSearch": 64})[0],
                f"recall_ef{ef}": probe(index, queries, truth, k, {"efSearch": ef})[0],
            }
        )
        del index, raw
    return out


def extrapolate(rows: list[dict[str, Any]], dim: int, target: int = 1_000_000) -> dict[str, int]:
    """Rough build seconds at ``target`` vectors from the largest "fine" size measured."""
    fine = [r for r in rows if r["data"] == "fine"]
    largest = max(r["n"] for r in fine)
    out = {}
    for row in fine:
        n = row["n"]
        if n != largest or n >= target or n < 50_000:
            continue
        if "HNSW" in row["factory"]:
            out["hnsw_build_s"] = round(
                row["build_s"] * target / n * math.log(target) / math.log(n)
            )
        if "IVF" in row["factory"]:
            nlist = int(row["factory"].split("IVF")[1].split(",")[0])
            big = int(choose_factory(target, dim, "ivfpq").split("IVF")[1].split(",")[0])
            # k-means and list assignment cost scale with points x nlist (faiss trains on at most
            # 256 points per centroid); PQ training does not grow, so this is an upper bound.
            scale = min(target, 256 * big) * big / (min(n, 256 * nlist) * nlist)
            out["ivfpq_build_s_upper"] = round(row["build_s"] * scale)
    return out


# ----------------------------------------------------------------------------- report


def format_indexer(args: argparse.Namespace, r: dict[str, Any]) -> list[str]:
    """Part 1 of the RESULTS.md section."""
    b = r["breakdown"]
    ok = r["index_vs_encoder"] >= GOALS["index_vs_encoder"]
    return [
        "| what | images/s |",
        "|---|---:|",
        f"| bare encoder, batch {r['batch_size']}, pre-decoded | {r['encoder_images_per_s']:.1f} |",
        f"| `build_index` end to end, workers {r['workers']} | {r['indexer_images_per_s']:.1f} |",
        f"| decode + preprocess only, workers 0 / {r['workers']} | "
        f"{b['decode_only_images_per_s_workers0']:.1f} / "
        f"{b['decode_only_images_per_s_workers']:.1f} |",
        "",
        f"Indexer / encoder = **{r['index_vs_encoder']}** (goal >= 0.85: "
        f"{'met' if ok else 'MISSED'}; per round {r['round_ratios']}). {r['images']} JPEGs of "
        f"{r['photo_size']} (mean {r['jpeg_kb_mean']} KB), {args.arch} at {args.img_size} px, "
        f"random init, ONNX Runtime CPU, {r['cores']} cores; {args.rounds} alternating rounds, "
        f"each indexer run into a fresh folder (model load, scan + hash, decode, embed, SQLite, "
        f"`{r['index_type']}`, publish).",
        f"Breakdown: encoder {b['encoder_core_ms_per_image']} core-ms per image "
        f"({b['encoder_wall_ms_per_image']} ms wall), decode + preprocess "
        f"{b['decode_core_ms_per_image']} core-ms per image, so with every core busy the indexer "
        f"can reach at most {b['cpu_bound_ceiling']} of the encoder's rate; fixed costs per run "
        f"(session load {b['session_load_s']} s, scan + hash {b['scan_s']} s) cap it at "
        f"{b['fixed_cost_ceiling']} for this gallery; together {b['combined_ceiling']}. "
        f"One instrumented run: {b['instrumented_wall_s']} s = encoder calls "
        f"{b['instrumented_embed_s']} s ({b['instrumented_embed_ms_per_image']} ms per image, bare "
        f"{b['encoder_wall_ms_per_image']}) + waiting for decoded batches "
        f"{b['instrumented_wait_s']} s (of which the first batch {b['instrumented_first_batch_wait_s']}"
        f" s) + the rest {b['instrumented_other_s']} s.",
        "",
    ]


def format_faiss(args: argparse.Namespace, r: dict[str, Any]) -> list[str]:
    """Part 2 of the RESULTS.md section."""
    threads = r["faiss_threads"]
    lines = [
        "| data | vectors | kind | factory | build s | MB | recall@10 | tuned | 1 query p50 / p95 ms "
        f"| 64 queries ms | 1 query p50 ms, {threads} threads | 64 queries ms, {threads} threads "
        "| 1 query p50 ms, BLAS thr. 4d |",
        "|---|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in r["faiss"]:
        one, many, blas = (
            row["ms_1_thread"],
            row[f"ms_{threads}_threads"],
            row["ms_1_thread_blas_4d"],
        )
        tuned_text = ", ".join(f"{k} {v}" for k, v in row["tuned"].items()) or "exact"
        lines.append(
            f"| {row['data']} | {row['n']:,} | {row['kind']} | `{row['factory']}` | "
            f"{row['build_s']} | {row['size_mb']} | {row['recall_at_10']} | {tuned_text} | "
            f"{one['p50']} / {one['p95']} | {one['batch64']} | {many['p50']} | {many['batch64']} | "
            f"{blas['p50']} |"
        )
    lines.append("")
    for row in r["faiss"]:
        for name, points in row["sweep"].items():
            cells = "; ".join(f"{v}: {rc} ({ms} ms)" for v, rc, ms in points)
            lines.append(
                f"- {row['data']} {row['n']:,} {row['kind']}, recall@10 (1-query ms) by {name}: "
                f"{cells}"
            )
    for row in r["faiss"]:
        for w in row.get("what_if_efConstruction", []):
            cells = ", ".join(f"{key} {v}" for key, v in w.items() if key != "efConstruction")
            lines.append(
                f"- {row['data']} {row['n']:,} what if HNSW efConstruction were "
                f"{w['efConstruction']} (the library keeps FAISS's 40): {cells}"
            )
    miss = [
        f"{row['n']:,}"
        for row in r["faiss"]
        if row["data"] == "fine"
        and row["kind"] == "auto"
        and row["recall_at_10"] < GOALS["recall_at_10"]
    ]
    stats = {row["data"]: (row["n"], row["data_stats"]) for row in r["faiss"]}
    described = "; ".join(
        f"{name} at {n:,}: queries' mean cosine to true top-1 {s['top1_cos']}, top-10 "
        f"{s['top10_cos']}"
        for name, (n, s) in stats.items()
    )
    lines += [
        "",
        "Recall goal (>= 0.95 for the chosen index on the fine data): "
        f"{'MISSED at ' + ', '.join(miss) if miss else 'met'}. d = {args.dim}, inner product on "
        f"L2-normalised vectors, k = {args.k}, {args.queries} held-out queries, exact top-{args.k} "
        f"from `IndexFlatIP`. Builds use FAISS's {threads} threads; latency columns use 1 thread "
        "(the service's `search_threads` default) unless marked; the sweeps' latencies are means "
        "over 50 single queries on 1 thread. Data (see `DATASETS` in bench/index.py): "
        f"{described}.",
    ]
    if r.get("not_run"):
        lines.append(r["not_run"])
    return lines


def format_table(args: argparse.Namespace, r: dict[str, Any]) -> str:
    """The RESULTS.md section body."""
    lines: list[str] = []
    if "index_vs_encoder" in r:
        lines += format_indexer(args, r)
    if "faiss" in r:
        lines += format_faiss(args, r)
    lines.append(
        f"1-minute load average {r['load_average'][0]} before, {r['load_average'][1]} after."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the parts, print the table and the JSON line, record the section."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result: dict[str, Any] = {}
    load = os.getloadavg()[0]
    if args.part in ("all", "indexer"):
        with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
            result |= measure_indexer(Path(tmp), args)
        print(json.dumps(result), flush=True)
    if args.part in ("all", "faiss"):
        result |= measure_faiss(args)
        if max(int(s) for s in args.sizes.split(",")) < 1_000_000:
            estimate = extrapolate(result["faiss"], args.dim)
            result["not_run_1m_estimate_s"] = estimate
            parts = []
            if "hnsw_build_s" in estimate:
                parts.append(f"the HNSW build ~{estimate['hnsw_build_s']} s")
            if "ivfpq_build_s_upper" in estimate:
                parts.append(f"the IVF-PQ build up to ~{estimate['ivfpq_build_s_upper']} s")
            result["not_run"] = (
                "1M vectors not run by default: scaled from the largest size here, "
                + (" and ".join(parts) or "the builds")
                + " on this machine, beyond the script's ~10-minute budget "
                "(`--sizes 10000,100000,1000000` runs it)."
            )
    result["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    table = format_table(args, result)
    print(table)
    if not args.no_record:
        record(args.section, table)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
