"""Gallery indexer CLI.

    python indexer/build_index.py --model MODEL.onnx|CKPT.pt --gallery DIR --out INDEX_DIR
        [--index auto|flat|hnsw|ivfpq|FACTORY] [--device auto|cpu|cuda] [--runtime auto|onnx|torch]
        [--engine local|ray [--ray-address ADDR]] [--vector-store faiss|milvus://HOST:PORT|FILE.db]

Incremental and resumable: only new or changed files are embedded (cached by content hash), deleted
files are dropped, and a killed run leaves the previous index usable and continues on rerun.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from indexer.embedder import decoded_batches, load_backend
from indexer.publish import publish, remove_stale
from indexer.working_db import GalleryDB, GalleryDBError, database_error
from lodisc.checkpoint import CheckpointError
from lodisc.hashing import file_sha256
from lodisc.index_format.layout import WORKING_DB
from lodisc.index_format.manifest import FORMAT_VERSION, METRIC, read_current_manifest
from lodisc.index_format.milvus_store import follow_alias, is_faiss, publish_vectors
from lodisc.index_format.vectors import FaissIndex, IndexFileError
from lodisc.inference.onnx_encoder import ModelError
from lodisc.runtime import DeviceError

logger = logging.getLogger("indexer.build_index")


class GalleryError(ValueError):
    """A gallery folder that cannot be indexed."""


@dataclass
class EmbedTimes:
    """Where the embedding loop of one :func:`build_index` run spent its wall time, in seconds.

    Pass one to ``build_index(embed_times=...)`` to have it filled in (bench/indexer_throughput.py);
    the rest of a run's wall time is model load, scan, SQLite, FAISS and publish.
    """

    embed_s: float = 0.0  # inside the backend's ``embed`` (the encoder)
    wait_s: float = 0.0  # waiting for the decode workers' next batch
    first_wait_s: float = -1.0  # of which waiting for the first batch (-1: no batch came)

    def waited(self, batches: Iterable[Any]) -> Iterator[Any]:
        """Yield from ``batches``, adding the time each ``next`` took to ``wait_s``."""
        source = iter(batches)
        while True:
            start = time.perf_counter()
            item = next(source, None)
            self.wait_s += time.perf_counter() - start
            if item is None:
                return
            if self.first_wait_s < 0:
                self.first_wait_s = self.wait_s
            yield item


def build_index(
    model_path: Path,
    gallery: Path,
    out: Path,
    index_kind: str = "auto",
    device: str = "auto",
    batch_size: int = 32,
    workers: int = 2,
    progress: bool = False,
    runtime: str = "auto",
    embed_times: EmbedTimes | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    vector_store: str = "faiss",
) -> dict[str, Any]:
    """Sync, embed what is missing, and publish an index; returns a summary dict.

    ``embed_times``, when given, is filled in with where the embedding loop's time went.
    ``engine`` ray embeds on a Ray cluster (indexer/ray_engine.py); ``vector_store`` other than
    faiss publishes the vectors into Milvus (lodisc/index_format/milvus_store.py).
    """
    started = time.perf_counter()
    gallery, out = Path(gallery).resolve(), Path(out)
    if not gallery.is_dir():
        raise GalleryError(f"gallery folder not found: {gallery}")
    backend = load_backend(Path(model_path), runtime, device)
    model = file_sha256(Path(model_path))
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / WORKING_DB
    try:
        with closing(GalleryDB(db_path)) as db:
            report = db.scan(gallery)
            todo = db.missing_embeddings(model)
            times = embed_times if embed_times is not None else EmbedTimes()
            if engine == "ray":
                from indexer.ray_engine import embed_on_ray

                failed = embed_on_ray(
                    db, Path(model_path), runtime, device, model, backend.preprocessing, gallery,
                    todo, batch_size, progress, ray_address,
                )  # fmt: skip
            else:
                failed = _embed(
                    db, backend, model, gallery, todo, batch_size, workers, progress, times
                )
            published, rebuilt = _publish_if_changed(
                db, backend, model, gallery, out, index_kind, vector_store
            )
            db.prune_embeddings(model)
    except sqlite3.Error as err:
        raise database_error(db_path, err) from err
    return {
        "items": published["item_count"],
        "added": report.added,
        "changed": report.changed,
        "removed": report.removed,
        "embedded": len(todo) - len(failed),
        "unreadable": report.unreadable + len(failed),
        "index_type": published["index_type"],
        "republished": rebuilt,
        "generation": published["generation"],
        "runtime": backend.name,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _publish_if_changed(
    db: GalleryDB,
    backend: Any,
    model: str,
    gallery: Path,
    out: Path,
    index_kind: str,
    vector_store: str = "faiss",
) -> tuple[dict[str, Any], bool]:
    """Publish the embedded items unless the current generation already holds exactly them."""
    ids, vectors, tokens = db.embedded_items(model, _dim(db, model, backend))
    if len(ids) == 0:
        raise GalleryError(f"no readable images in {gallery}")
    manifest = {
        "model_sha256": model,
        "checkpoint_sha256": backend.checkpoint_sha256,
        "dim": int(vectors.shape[1]),
        "preprocessing": backend.preprocessing,
        "metric": METRIC,
        "item_count": int(len(ids)),
        "gallery_root": str(gallery),
        "content_fingerprint": _fingerprint(ids, db, model, _store_kind(index_kind, vector_store)),
    }
    current = read_current_manifest(out)
    if current and current.get("content_fingerprint") == manifest["content_fingerprint"]:
        remove_stale(out)  # what a run killed while publishing left behind
        return current, False
    index: FaissIndex | None = None
    if is_faiss(vector_store):
        index = FaissIndex.build(vectors, ids, index_kind)
        manifest["index_type"] = index.factory
    else:
        shas = dict(db.db.execute("SELECT id, sha256 FROM items"))
        keys = [f"{shas[int(i)]}:{model}" for i in ids]
        entry = publish_vectors(vector_store, out, current, ids, keys, vectors, index_kind)
        manifest["vector_store"], manifest["index_type"] = entry, entry["index_type"]
    manifest["pivotal_tokens"] = {
        "per_item": int(tokens.shape[1]),
        "dtype": "float16",
        "bytes_per_item": int(tokens.shape[1] * tokens.shape[2] * 2),
    }
    written = publish(out, out / WORKING_DB, index, manifest, model, tokens)
    if index is None:
        follow_alias(written["vector_store"])
    return written, True


def _embed(
    db: GalleryDB,
    backend: Any,
    model: str,
    gallery: Path,
    todo: list[tuple[str, str]],
    batch_size: int,
    workers: int,
    progress: bool,
    times: EmbedTimes,
) -> list[str]:
    """Embed missing contents batch by batch, committing each batch (resumable); adds to ``times``."""
    shas, paths = [t[0] for t in todo], [t[1] for t in todo]
    failed: list[str] = []
    bar = tqdm(total=len(paths), desc="embed", unit="img", disable=not progress)
    batches = decoded_batches(gallery, paths, backend.preprocessing, batch_size, workers)
    for indices, batch, bad in times.waited(batches):
        if indices:
            start = time.perf_counter()
            vectors, tokens = backend.embed_with_tokens(batch)
            times.embed_s += time.perf_counter() - start
            db.store_embeddings(model, [shas[i] for i in indices], vectors, tokens)
        failed += [paths[i] for i in bad]
        bar.update(len(indices) + len(bad))
    bar.close()
    if failed:
        db.drop_items(failed)
    return failed


def _store_kind(index_kind: str, vector_store: str) -> str:
    """The fingerprint's index kind: FAISS indexes keep theirs, a Milvus store adds its URI."""
    return index_kind if is_faiss(vector_store) else f"{index_kind}|{vector_store}"


def _dim(db: GalleryDB, model: str, backend: Any) -> int:
    row = db.db.execute(
        "SELECT LENGTH(vector) FROM embeddings WHERE model = ? LIMIT 1", (model,)
    ).fetchone()
    return int(row[0]) // 4 if row else 0


def _fingerprint(ids: np.ndarray, db: GalleryDB, model: str, kind: str) -> str:
    """Hash of what the published index holds: items, contents, model and index kind."""
    digest = hashlib.sha256(f"{model}|{kind}|format {FORMAT_VERSION}".encode())
    for row in db.db.execute("SELECT id, path, label, sha256 FROM items ORDER BY id"):
        digest.update("|".join(map(str, row)).encode())
    digest.update(ids.tobytes())
    return digest.hexdigest()


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
