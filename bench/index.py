"""Gallery indexing throughput against the bare ONNX encoder, and FAISS build/search/recall at scale.

Part 1 exports a random-init ViT to ONNX, writes a gallery of photo-sized JPEGs (500x375 by
default) and times ``indexer.build_index.build_index`` end to end into a fresh folder each round,
alternating with the bare encoder (``OnnxEncoder.run``) on pre-decoded batches of the same size, since
the machine's load drifts. Goal: indexer images/s >= 0.85x the encoder's. A breakdown follows
(model load, gallery scan, decode-only rate and CPU cost, encoder CPU cost) that names the limit.

Part 2 builds ``FaissIndex.build(kind="auto")`` on clustered vectors (a Gaussian mixture whose
classes vary in a low-rank subspace, like fine-grained embeddings; see ``clustered``) at each size,
plus ``kind="ivfpq"`` at the largest size, and measures build time, single-query and 64-query batch
latency and recall@10 against exact search (``IndexFlatIP``) on held-out queries, with the library's
tuned search parameters and a sweep around them. Goal: recall@10 >= 0.95 for the chosen index.

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
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from PIL import Image, ImageDraw

from bench.results import record
from indexer.build_index import build_index
from indexer.embedder import decoded_batches, load_backend
from indexer.gallery import GalleryDB, list_gallery_files
from lodisc.checkpoint import save_checkpoint
from lodisc.config import EncoderConfig
from lodisc.imageio import load_rgb
from lodisc.index import FaissIndex, choose_factory, normalise
from lodisc.models.encoder import Encoder
from lodisc.onnx_encoder import OnnxEncoder
from lodisc.preprocess import preprocess_batch
from training import export_onnx

GOALS = {"index_vs_encoder": 0.85, "recall_at_10": 0.95}
BATCH_QUERIES = 64
SWEEP = {
    "efSearch": (16, 32, 64, 128, 256, 512),
    "nprobe": (8, 16, 32, 64, 128, 256),
    "k_factor": (1, 2, 4, 8, 16, 32),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "indexer", "faiss"], default="all")
    indexer = parser.add_argument_group("part 1: indexer vs encoder")
    indexer.add_argument("--arch", default="vit_tiny_patch16_224")
    indexer.add_argument("--img-size", type=int, default=224)
    indexer.add_argument("--images", type=int, default=384, help="gallery JPEGs")
    indexer.add_argument("--photo-size", default="500x375", help="gallery image WIDTHxHEIGHT")
    indexer.add_argument("--classes", type=int, default=8, help="gallery label folders")
    indexer.add_argument("--batch-size", type=int, default=32)
    indexer.add_argument("--workers", type=int, default=2, help="decode workers of the indexer")
    indexer.add_argument("--rounds", type=int, default=3, help="alternations encoder / indexer")
    faiss_group = parser.add_argument_group("part 2: FAISS")
    faiss_group.add_argument("--sizes", default="10000,100000", help="gallery sizes, comma-separated")
    faiss_group.add_argument("--dim", type=int, default=384)
    faiss_group.add_argument("--centres", type=int, default=2000, help="mixture components")
    faiss_group.add_argument("--rank", type=int, default=16, help="within-class subspace rank")
    faiss_group.add_argument("--spread", type=float, default=0.6, help="within-class spread")
    faiss_group.add_argument("--noise", type=float, default=0.15, help="isotropic noise norm")
    faiss_group.add_argument("--queries", type=int, default=200)
    faiss_group.add_argument("--k", type=int, default=10)
    faiss_group.add_argument("--no-ivfpq", action="store_true", help="skip ivfpq at the top size")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------- part 1


def write_gallery(root: Path, count: int, classes: int, size: tuple[int, int], seed: int = 0) -> int:
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
            x0, y0 = rng.integers(0, width), rng.integers(0, height)
            w, h = rng.integers(20, width // 2), rng.integers(20, height // 2)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
            else:
                draw.polygon([(int(x0), int(y0)), (int(x0 + w), int(y0)), (int(x0), int(y0 + h))], fill=colour)
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


def indexer_pass(model: Path, gallery: Path, out: Path, args: argparse.Namespace) -> tuple[float, dict]:
    """Wall seconds of one ``build_index`` into a fresh folder, and its summary."""
    start = time.perf_counter()
    summary = build_index(
        model, gallery, out, "auto", "cpu", args.batch_size, args.workers, runtime="onnx"
    )
    return time.perf_counter() - start, summary


def decode_pass(gallery: Path, spec: dict[str, Any], batch: int, workers: int) -> tuple[float, float]:
    """Wall and this-process CPU seconds of decoding the gallery as the indexer does, no encoder."""
    paths = [p.relative_to(gallery).as_posix() for p in list_gallery_files(gallery)]
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in decoded_batches(gallery, paths, spec, batch, workers):
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_indexer(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Indexer end to end vs bare encoder in alternating rounds, then a breakdown."""
    size = tuple(int(v) for v in args.photo_size.lower().split("x"))
    model = export_model(work, args.arch, args.img_size)
    gallery = work / "gallery"
    nbytes = write_gallery(gallery, args.images, args.classes, (size[0], size[1]))
    encoder = OnnxEncoder(model, "cpu")
    spec = encoder.preprocessing
    files = list_gallery_files(gallery)
    arrays = preprocess_batch([load_rgb(p) for p in files], spec)
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
        if summary["embedded"] != args.images:
            raise SystemExit(f"indexer embedded {summary['embedded']} of {args.images}: {summary}")
    n = args.images
    encoder_rate = n * len(enc_wall) / sum(enc_wall)
    indexer_rate = n * len(idx_wall) / sum(idx_wall)

    # Breakdown: the fixed costs and the decode work the indexer adds to the encoder's.
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
    cores = len(os.sched_getaffinity(0))
    # With every core busy, the indexer spends encoder + decode core time per image; the bare
    # encoder only the former (at the same parallel efficiency).
    ceiling = enc_core_ms / (enc_core_ms + dec_core_ms)
    fixed = session_s + scan_s
    fixed_ceiling = (n / encoder_rate) / (n / encoder_rate + fixed)
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
        "cores": cores,
        "breakdown": {
            "session_load_s": round(session_s, 3),
            "scan_s": round(scan_s, 3),
            "decode_core_ms_per_image": round(dec_core_ms, 2),
            "decode_only_images_per_s_workers0": round(n / decode0_wall, 1),
            f"decode_only_images_per_s_workers{args.workers}": round(n / decodew_wall, 1),
            "encoder_core_ms_per_image": round(enc_core_ms, 2),
            "encoder_wall_ms_per_image": round(1000 / encoder_rate, 2),
            "cpu_bound_ceiling": round(ceiling, 3),
            "fixed_cost_ceiling": round(fixed_ceiling, 3),
            "combined_ceiling": round(ceiling * fixed_ceiling, 3),
        },
    }


# ----------------------------------------------------------------------------- part 2


def clustered(
    n: int, args: argparse.Namespace, seed: int, model_seed: int = 0
) -> np.ndarray:
    """``n`` draws from a fixed Gaussian mixture in ``args.dim`` dimensions (not normalised).

    ``args.centres`` unit-norm class centres; each class varies in its own random ``args.rank``-dim
    subspace (norm about ``args.spread``) plus isotropic noise (norm about ``args.noise``). The
    low-rank part gives the neighbour structure of real embeddings (a few nearby items, then a
    class); with ``rank`` 0 it is a plain isotropic mixture, where every in-class distance is about
    the same in 384 dimensions and no ANN method finds the true top-10 cheaply.
    """
    model = np.random.default_rng(model_seed)
    dim, rank = args.dim, args.rank
    centres = normalise(model.standard_normal((args.centres, dim), dtype=np.float32))
    basis = (
        model.standard_normal((args.centres, rank, dim), dtype=np.float32) / math.sqrt(dim)
        if rank
        else None
    )
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, args.centres, n)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= args.noise / math.sqrt(dim)
    for start in range(0, n, 65536):
        x[start : start + 65536] += centres[labels[start : start + 65536]]
    if basis is not None:
        z = rng.standard_normal((n, rank), dtype=np.float32) * (args.spread / math.sqrt(rank))
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(args.centres + 1))
        for c in range(args.centres):
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


def set_knob(index: FaissIndex, name: str, value: int) -> None:
    """Set efSearch, nprobe or k_factor."""
    parts = knobs(index)
    if name == "efSearch":
        parts["hnsw"].efSearch = value
    elif name == "nprobe":
        parts["ivf"].nprobe = min(value, parts["ivf"].nlist)
    else:
        parts["refine"].k_factor = float(value)


def sweep(
    index: FaissIndex, queries: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, list[list[float]]]:
    """Recall@k and mean single-query ms for each value of each knob, the others as tuned."""
    base = tuned(index)
    out: dict[str, list[list[float]]] = {}
    for name in base:
        rows = []
        for value in SWEEP[name]:
            set_knob(index, name, value)
            _, ids = index.search(queries, k)
            ms = float(np.mean(single_query_ms(index, queries[:50], k)))
            rows.append([value, round(recall(ids, truth, k), 4), round(ms, 3)])
        set_knob(index, name, base[name])
        out[name] = rows
    return out


def measure_faiss(args: argparse.Namespace) -> dict[str, Any]:
    """Every size with kind auto, plus ivfpq at the largest; see the module docstring."""
    sizes = sorted(int(s) for s in args.sizes.split(","))
    queries = clustered(args.queries, args, seed=10_001)
    rows: list[dict[str, Any]] = []
    for n in sizes:
        start = time.perf_counter()
        data = clustered(n, args, seed=n)
        gen_s = time.perf_counter() - start
        exact = faiss.IndexFlatIP(args.dim)
        exact.add(normalise(data))
        sims, truth = exact.search(normalise(queries), args.k)
        del exact
        kinds = ["auto"]
        if n == sizes[-1] and not args.no_ivfpq and choose_factory(n, args.dim) != choose_factory(
            n, args.dim, "ivfpq"
        ):
            kinds.append("ivfpq")
        for kind in kinds:
            start = time.perf_counter()
            index = FaissIndex.build(data, np.arange(n, dtype=np.int64), kind)
            build_s = time.perf_counter() - start
            _, ids = index.search(queries, args.k)
            single = single_query_ms(index, queries, args.k)
            row = {
                "n": n,
                "kind": kind,
                "factory": index.factory,
                "build_s": round(build_s, 2),
                "size_mb": round(faiss.serialize_index(index.index).nbytes / 2**20, 1),
                "single_ms_p50": round(float(np.percentile(single, 50)), 3),
                "single_ms_p95": round(float(np.percentile(single, 95)), 3),
                "batch64_ms": round(batch_ms(index, queries, args.k), 2),
                "recall_at_10": round(recall(ids, truth, args.k), 4),
                "tuned": tuned(index),
                "data": {
                    "generate_s": round(gen_s, 1),
                    "top1_cos": round(float(sims[:, 0].mean()), 3),
                    "top10_cos": round(float(sims[:, -1].mean()), 3),
                },
            }
            row["sweep"] = sweep(index, queries, truth, args.k) if row["tuned"] else {}
            rows.append(row)
            print(json.dumps(row), flush=True)
            del index
        del data
    return {"faiss": rows, "faiss_threads": faiss.omp_get_max_threads()}


def extrapolate(rows: list[dict[str, Any]], dim: int, target: int = 1_000_000) -> dict[str, float]:
    """Rough build seconds at ``target`` vectors from the largest measured size (not run)."""
    out = {}
    for row in rows:
        n = row["n"]
        if n >= target or n < 50_000 or row["n"] != max(r["n"] for r in rows):
            continue
        if row["factory"].startswith("IDMap2,HNSW"):
            scale = target / n * math.log(target) / math.log(n)
            out["hnsw_build_s"] = round(row["build_s"] * scale)
        if "IVF" in row["factory"]:
            nlist = int(row["factory"].split("IVF")[1].split(",")[0])
            big = int(choose_factory(target, dim, "ivfpq").split("IVF")[1].split(",")[0])
            # k-means and list assignment cost scale with points x nlist; faiss trains on at most
            # 256 points per centroid.
            scale = min(target, 256 * big) * big / (min(n, 256 * nlist) * nlist)
            out["ivfpq_build_s_upper"] = round(row["build_s"] * scale)
    return out


# ----------------------------------------------------------------------------- report


def format_table(args: argparse.Namespace, r: dict[str, Any]) -> str:
    """The RESULTS.md section body."""
    lines: list[str] = []
    if "index_vs_encoder" in r:
        b = r["breakdown"]
        workers_key = f"decode_only_images_per_s_workers{r['workers']}"
        ok = r["index_vs_encoder"] >= GOALS["index_vs_encoder"]
        lines += [
            "| what | images/s |",
            "|---|---:|",
            f"| bare encoder, batch {r['batch_size']}, pre-decoded | {r['encoder_images_per_s']:.1f} |",
            f"| `build_index` end to end, workers {r['workers']} | {r['indexer_images_per_s']:.1f} |",
            f"| decode + preprocess only, workers 0 / {r['workers']} | "
            f"{b['decode_only_images_per_s_workers0']:.1f} / "
            f"{b[workers_key]:.1f} |",
            "",
            f"Indexer / encoder = **{r['index_vs_encoder']}** (goal >= 0.85: "
            f"{'met' if ok else 'MISSED'}; per round {r['round_ratios']}). {r['images']} JPEGs of "
            f"{r['photo_size']} (mean {r['jpeg_kb_mean']} KB), {args.arch} at {args.img_size} px, "
            f"random init, ONNX Runtime CPU, {r['cores']} cores; {args.rounds} alternating rounds, "
            f"each indexer run into a fresh folder (model load, scan and hash, decode, embed, "
            f"SQLite, {r['index_type']}, publish).",
            f"Breakdown: encoder {b['encoder_core_ms_per_image']} core-ms per image "
            f"({b['encoder_wall_ms_per_image']} ms wall), decode + preprocess "
            f"{b['decode_core_ms_per_image']} core-ms per image, so with every core busy the "
            f"indexer can reach at most {b['cpu_bound_ceiling']} of the encoder's rate; fixed costs "
            f"per run (session load {b['session_load_s']} s, scan + hash {b['scan_s']} s) cap it at "
            f"{b['fixed_cost_ceiling']} for this gallery; together {b['combined_ceiling']}.",
            "",
        ]
    if "faiss" in r:
        lines += [
            "| vectors | kind | factory | build s | MB | 1 query p50 / p95 ms | 64 queries ms | "
            "recall@10 | tuned |",
            "|---:|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in r["faiss"]:
            tuned_text = ", ".join(f"{k} {v}" for k, v in row["tuned"].items()) or "exact"
            lines.append(
                f"| {row['n']:,} | {row['kind']} | `{row['factory']}` | {row['build_s']} | "
                f"{row['size_mb']} | {row['single_ms_p50']} / {row['single_ms_p95']} | "
                f"{row['batch64_ms']} | {row['recall_at_10']} | {tuned_text} |"
            )
        lines.append("")
        for row in r["faiss"]:
            for name, points in row["sweep"].items():
                cells = "; ".join(f"{v}: {rc} ({ms} ms)" for v, rc, ms in points)
                lines.append(
                    f"- {row['n']:,} {row['kind']}, recall@10 (1-query ms) by {name}: {cells}"
                )
        data = r["faiss"][0]["data"]
        miss = [
            f"{row['n']:,} {row['kind']}"
            for row in r["faiss"]
            if row["kind"] == "auto" and row["recall_at_10"] < GOALS["recall_at_10"]
        ]
        lines += [
            "",
            f"Recall goal (>= 0.95 for the chosen index): {'MISSED at ' + ', '.join(miss) if miss else 'met'}. "
            f"d = {args.dim}, inner product on L2-normalised vectors, k = {args.k}, "
            f"{args.queries} held-out queries, exact top-{args.k} from `IndexFlatIP`; "
            f"{r['faiss_threads']} FAISS threads. Data: mixture of {args.centres} classes, each "
            f"varying in its own rank-{args.rank} subspace (spread {args.spread}) plus isotropic "
            f"noise {args.noise}; queries' mean cosine to their true top-1 {data['top1_cos']} and "
            f"top-10 {data['top10_cos']} (at {r['faiss'][0]['n']:,}).",
        ]
        if r.get("not_run"):
            lines.append(r["not_run"])
    if "load_average" in r:
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
                parts.append(f"HNSW build ~{estimate['hnsw_build_s']} s")
            if "ivfpq_build_s_upper" in estimate:
                parts.append(f"IVF-PQ build up to ~{estimate['ivfpq_build_s_upper']} s")
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
        record("index", table)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
