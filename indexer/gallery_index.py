"""Indexing a gallery folder: sync the working database, embed what is missing, publish.

Incremental and resumable: only new or changed files are embedded (cached by content hash, each
batch committed), deleted files are dropped, and a killed run leaves the previous index usable and
continues on rerun. The command line is ``indexer/build_index.py``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from indexer.embedder import decoded_batches, load_backend
from indexer.publish_changes import publish_if_changed
from indexer.working_db import GalleryDB, GalleryError, database_error
from lodisc.hashing import file_sha256
from lodisc.index_format.layout import WORKING_DB


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
            published, rebuilt = publish_if_changed(
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
