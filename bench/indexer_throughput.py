"""Gallery indexing throughput: ``build_index`` end to end against the bare ONNX encoder.

Exports a random-init ViT to ONNX, writes a gallery of photo-sized JPEGs (500x375 by default) and
times ``indexer.gallery_index.build_index`` end to end into a fresh folder each round, alternating
with the bare encoder (``OnnxEncoder.run``) on pre-decoded batches of the same size, since the
machine's load drifts. Goal: indexer images/s >= 0.85x the encoder's. A breakdown follows: fixed
costs (model load, scan + hash), decode cost, and one indexer run that splits its wall time into
encoder calls, waiting for decoded batches, and the rest (``build_index(embed_times=...)``).

    python bench/indexer_throughput.py [--images 384] [--rounds 3] [--no-record]

The last stdout line is JSON; the table is recorded as section "indexer_throughput" of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common.results import add_gallery_args, report
from bench.common.synthetic_photos import write_photo_gallery
from bench.common.tables import format_indexer
from harness.random_model import export_random_model
from indexer.embedder import decoded_batches, load_backend
from indexer.gallery_index import EmbedTimes, build_index
from indexer.working_db import GalleryDB, list_gallery_files
from lodisc.config import EncoderConfig
from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.onnx_encoder import OnnxEncoder

GOALS = {"index_vs_encoder": 0.85}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_gallery_args(parser)
    parser.add_argument("--classes", type=int, default=8, help="gallery label folders")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="decode workers of the indexer")
    parser.add_argument("--rounds", type=int, default=3, help="alternations encoder / indexer")
    parser.add_argument("--section", default="indexer_throughput", help="RESULTS.md section")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def encoder_pass(encoder: OnnxEncoder, arrays: np.ndarray, batch: int) -> tuple[float, float]:
    """Wall and process-CPU seconds to encode every array in batches of ``batch``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(arrays), batch):
        encoder.run(arrays[start : start + batch])
    return time.perf_counter() - wall, time.process_time() - cpu


def indexer_pass(
    model: Path, gallery: Path, out: Path, args: argparse.Namespace, times: EmbedTimes | None = None
) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one ``build_index`` into a fresh folder, and its summary."""
    start = time.perf_counter()
    summary = build_index(
        model,
        gallery,
        out,
        "auto",
        "cpu",
        args.batch_size,
        args.workers,
        runtime="onnx",
        embed_times=times,
    )
    if summary["embedded"] != args.images:
        raise SystemExit(f"indexer embedded {summary['embedded']} of {args.images}: {summary}")
    return time.perf_counter() - start, summary


def decode_pass(
    gallery: Path, spec: dict[str, Any], batch: int, workers: int
) -> tuple[float, float]:
    """Wall and this-process CPU seconds of decoding the gallery as the indexer does, no encoder."""
    paths = [p.relative_to(gallery).as_posix() for p in list_gallery_files(gallery)]
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in decoded_batches(gallery, paths, spec, batch, workers):
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_rounds(
    work: Path, model: Path, gallery: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Bare encoder and indexer in alternating rounds: rates, per-round ratios, encoder CPU time."""
    encoder = OnnxEncoder(model, "cpu")
    arrays = preprocess_batch(
        [load_rgb(p) for p in list_gallery_files(gallery)], encoder.preprocessing
    )
    encoder.run(arrays[: args.batch_size])  # warm-up
    enc_wall, enc_cpu, idx_wall = [], [], []
    summary: dict[str, Any] = {}
    for r in range(args.rounds):
        wall, cpu = encoder_pass(encoder, arrays, args.batch_size)
        enc_wall.append(wall)
        enc_cpu.append(cpu)
        wall, summary = indexer_pass(model, gallery, work / f"index-{r}", args)
        idx_wall.append(wall)
    n = args.images
    return {
        "encoder_rate": n * len(enc_wall) / sum(enc_wall),
        "indexer_rate": n * len(idx_wall) / sum(idx_wall),
        "round_ratios": [round(e / i, 3) for e, i in zip(enc_wall, idx_wall, strict=True)],
        "encoder_core_ms": 1000 * sum(enc_cpu) / (n * len(enc_cpu)),  # core-ms per image
        "summary": summary,
        "spec": encoder.preprocessing,
    }


def breakdown(
    work: Path, model: Path, gallery: Path, args: argparse.Namespace, rounds: dict[str, Any]
) -> dict[str, float]:
    """Fixed costs, decode cost and one indexer run's split, against the encoder's rate."""
    n, encoder_rate = args.images, rounds["encoder_rate"]
    times = EmbedTimes()
    wall, _ = indexer_pass(model, gallery, work / "index-instrumented", args, times)
    start = time.perf_counter()
    load_backend(model, "onnx", "cpu")
    session_s = time.perf_counter() - start
    db = GalleryDB(work / "scan-probe.sqlite")
    start = time.perf_counter()
    db.scan(gallery)
    scan_s = time.perf_counter() - start
    db.close()
    decode0_wall, decode0_cpu = decode_pass(gallery, rounds["spec"], args.batch_size, 0)
    decodew_wall, _ = decode_pass(gallery, rounds["spec"], args.batch_size, args.workers)
    enc_core_ms = rounds["encoder_core_ms"]
    dec_core_ms = 1000 * decode0_cpu / n  # core-ms per image, decode + preprocess
    # With every core busy, the indexer spends encoder + decode core time per image; the bare
    # encoder only the former (at the same parallel efficiency).
    ceiling = enc_core_ms / (enc_core_ms + dec_core_ms)
    fixed_ceiling = (n / encoder_rate) / (n / encoder_rate + session_s + scan_s)
    return {
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
        "instrumented_wall_s": round(wall, 2),
        "instrumented_embed_s": round(times.embed_s, 2),
        "instrumented_embed_ms_per_image": round(1000 * times.embed_s / n, 2),
        "instrumented_wait_s": round(times.wait_s, 2),
        "instrumented_first_batch_wait_s": round(times.first_wait_s, 2),
        "instrumented_other_s": round(wall - times.embed_s - times.wait_s, 2),
    }


def measure_indexer(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Indexer end to end vs bare encoder in alternating rounds, then a breakdown."""
    width, height = (int(v) for v in args.photo_size.lower().split("x"))
    _, model = export_random_model(EncoderConfig(arch=args.arch, img_size=args.img_size), work)
    gallery = work / "gallery"
    nbytes = write_photo_gallery(gallery, args.images, args.classes, (width, height))
    rounds = measure_rounds(work, model, gallery, args)
    summary = rounds["summary"]
    return {
        "index_vs_encoder": round(rounds["indexer_rate"] / rounds["encoder_rate"], 3),
        "indexer_images_per_s": round(rounds["indexer_rate"], 2),
        "encoder_images_per_s": round(rounds["encoder_rate"], 2),
        "round_ratios": rounds["round_ratios"],
        "indexer_summary_seconds": summary.get("seconds"),
        "index_type": summary.get("index_type"),
        "images": args.images,
        "photo_size": args.photo_size,
        "jpeg_kb_mean": round(nbytes / args.images / 1024, 1),
        "batch_size": args.batch_size,
        "workers": args.workers,
        "cores": len(os.sched_getaffinity(0)),
        "breakdown": breakdown(work, model, gallery, args, rounds),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table and the JSON line, record the section."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-indexer-") as tmp:
        result = measure_indexer(Path(tmp), args)
    result["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    table = "\n".join(format_indexer(args, result, GOALS["index_vs_encoder"]))
    return report(table, result, args.section, args.no_record)


if __name__ == "__main__":
    sys.exit(main())
