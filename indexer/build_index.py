"""Gallery indexer CLI.

    python indexer/build_index.py --model MODEL.onnx|CKPT.pt --gallery DIR --out INDEX_DIR
        [--index auto|flat|hnsw|ivfpq|FACTORY] [--device auto|cpu|cuda] [--runtime auto|onnx|torch]
        [--engine local|ray [--ray-address ADDR]] [--vector-store faiss|milvus://HOST:PORT|FILE.db]

Incremental and resumable: only new or changed files are embedded (cached by content hash), deleted
files are dropped, and a killed run leaves the previous index usable and continues on rerun. The
work itself is ``indexer/gallery_index.py``'s ``build_index``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from indexer.gallery_index import build_index
from indexer.working_db import GalleryDBError, GalleryError
from lodisc.checkpoint import CheckpointError
from lodisc.index_format.vectors import IndexFileError
from lodisc.inference.onnx_encoder import ModelError
from lodisc.runtime import DeviceError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", required=True, help="model.onnx (default runtime) or checkpoint.pt"
    )
    parser.add_argument(
        "--gallery", required=True, help="image folder; labels are parent folder names"
    )
    parser.add_argument("--out", required=True, help="index folder")
    parser.add_argument(
        "--index", default="auto", help="auto | flat | hnsw | ivfpq | a FAISS factory string"
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--runtime", default="auto", choices=["auto", "onnx", "torch"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="parallel decode processes")
    parser.add_argument("--engine", default="local", choices=["local", "ray"])
    parser.add_argument(
        "--ray-address", default=None, help="Ray cluster (default: start a local one)"
    )
    parser.add_argument(
        "--vector-store", default="faiss", help="faiss | milvus://HOST:PORT | FILE.db (Lite)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: a progress bar, then a one-line summary (and a JSON line)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        summary = build_index(
            Path(args.model),
            Path(args.gallery),
            Path(args.out),
            args.index,
            args.device,
            args.batch_size,
            args.workers,
            progress=True,
            runtime=args.runtime,
            engine=args.engine,
            ray_address=args.ray_address,
            vector_store=args.vector_store,
        )
    except (
        GalleryError,
        GalleryDBError,
        ModelError,
        CheckpointError,
        IndexFileError,
        DeviceError,
        OSError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"indexed {summary['items']} items ({summary['added']} added, {summary['changed']} changed, "
        f"{summary['removed']} removed, {summary['embedded']} embedded, {summary['unreadable']} "
        f"unreadable) as {summary['index_type']} in {summary['seconds']} s -> {args.out}"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
