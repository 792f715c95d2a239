"""Indexer faults: ``kill -9`` at seeded random points of a run, and an index folder on a full disk.

Shared by tests/reliability/ (which assert on the results) and bench/faults.py (which tabulates them).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.fault_injection import (
    FullDiskRun,
    count_rows,
    fill_disk,
    kill_when,
    python_command,
    run_cli,
    snapshot,
    start,
    temp_leftovers,
    write_noise_images,
)
from indexer import build_index as build_index_cli
from indexer.gallery_index import build_index
from lodisc.index_format.layout import MANIFEST, WORKING_DB
from lodisc.index_format.published import PublishedIndex, load_published
from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.onnx_encoder import OnnxEncoder

BATCH = 4  # small batches: many commits, so kills land between and inside them
# One kill per plan, in this order: before any embedding, right after a batch commit, at a random
# moment inside embedding (twice), and while a new generation is being written.
KILL_PLANS = ("start-up", "between batches", "embedding", "embedding", "publish")
STARTUP_DELAY_S = (0.2, 3.0)  # interpreter start and imports take about 5 s here
EMBED_DELAY_S = (0.0, 0.004)  # about one tiny-model batch
VECTOR_ATOL = 1e-5


def draw_kill_plans(count: int, seed: int) -> tuple[str, ...]:
    """``count`` plans: start-up first, publish last, a seeded mix of embedding kills between."""
    middle = np.random.default_rng(seed).choice(["between batches", "embedding"], max(count - 2, 1))
    return ("start-up", *(str(plan) for plan in middle), "publish")


@dataclass
class IndexerKill:
    """One ``kill -9`` and what it left behind."""

    plan: str
    landed: str  # start-up/scan, embedding, index build, publish or after publish
    seconds: float  # after the process started
    embedded: int  # embeddings stored when it died
    generation: str  # the generation that loads afterwards
    self_top1: bool  # a gallery image is its own top-1 hit in that index
    leftovers: list[str]


@dataclass
class IndexerKillRun:
    """A run killed at every plan, then finished, compared with an uninterrupted build."""

    old_generation: str
    total: int
    kills: list[IndexerKill] = field(default_factory=list)
    rerun: dict[str, Any] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    max_vector_diff: float = float("nan")
    leftovers: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_indexer_kills(
    work: Path, model: Path, seed_gallery: Path, extra: int, seed: int, plans: tuple[str, ...]
) -> IndexerKillRun:
    """Index ``seed_gallery``, add ``extra`` images, kill the CLI once per plan, then finish.

    The reference is the same history without kills: a copy of the first index folder updated by
    one uninterrupted run.
    """
    started = time.perf_counter()
    gallery, out, reference = work / "gallery", work / "index", work / "reference"
    shutil.copytree(seed_gallery, gallery)
    build_index(model, gallery, out, workers=0, batch_size=BATCH)
    shutil.copytree(out, reference)
    write_noise_images(gallery / "extra", extra, seed)
    run = IndexerKillRun(load_published(out).manifest["generation"], 0)
    run.total = len(list(gallery.rglob("*.png")))
    rng = np.random.default_rng(seed)
    first = count_rows(out / WORKING_DB, "embeddings")
    targets = iter(sorted(rng.choice(np.arange(first + 1, run.total), len(plans), replace=False)))
    encoder = OnnxEncoder(model)
    for i, plan in enumerate(plans):
        kill = kill_indexer(model, gallery, out, plan, rng, int(next(targets)), work / f"{i}.log")
        kill.generation, kill.self_top1 = check_serves(out, encoder)
        run.kills.append(kill)
    run.rerun = build_index(model, gallery, out, workers=0, batch_size=BATCH)
    build_index(model, gallery, reference, workers=0, batch_size=BATCH)
    run.differences, run.max_vector_diff = compare_published(out, reference)
    run.leftovers = temp_leftovers(out)
    run.seconds = time.perf_counter() - started
    return run


def kill_indexer(
    model: Path,
    gallery: Path,
    out: Path,
    plan: str,
    rng: np.random.Generator,
    target: int,
    log: Path,
) -> IndexerKill:
    """Start ``indexer/build_index.py`` and SIGKILL it as ``plan`` says."""
    db = out / WORKING_DB
    before = count_rows(db, "embeddings")
    manifest = (out / MANIFEST).read_text()
    generations = {p.name for p in out.iterdir()}
    command = python_command(
        "indexer/build_index.py", "--model", model, "--gallery", gallery, "--out", out
    )
    process = start([*command, "--batch-size", str(BATCH), "--workers", "0"], log)
    began = time.monotonic()
    if plan == "start-up":
        delay = rng.uniform(*STARTUP_DELAY_S)
        kill_when(process, lambda: time.monotonic() - began >= delay)
    elif plan in ("between batches", "embedding"):
        goal = max(target, before + 1)
        delay = rng.uniform(*EMBED_DELAY_S) if plan == "embedding" else 0.0
        near = lambda: count_rows(db, "embeddings") >= goal - 2 * BATCH  # noqa: E731
        kill_when(process, lambda: count_rows(db, "embeddings") >= goal, near, delay)
    elif plan == "publish":
        total = len(list(gallery.rglob("*.png")))
        near = lambda: count_rows(db, "embeddings") >= total  # noqa: E731
        kill_when(process, lambda: _publishing(out, generations), near)
    else:
        raise ValueError(f"unknown kill plan {plan!r}")
    seconds = time.monotonic() - began
    embedded = count_rows(db, "embeddings")
    total = len(list(gallery.rglob("*.png")))
    landed = _landed(out, manifest, generations, before, embedded, total)
    return IndexerKill(plan, landed, seconds, embedded, "", False, temp_leftovers(out))


def _publishing(out: Path, before: set[str]) -> bool:
    """A staging folder, or a new generation the manifest does not name yet."""
    return any(name not in before for name in (p.name for p in out.iterdir()) if "gen-" in name)


def _landed(
    out: Path, manifest: str, before: set[str], embedded_before: int, embedded: int, total: int
) -> str:
    """Where the run died, judged from what it left on disk."""
    if (out / MANIFEST).read_text() != manifest:
        return "after publish"
    if _publishing(out, before):
        return "publish"
    if embedded >= total:
        return "index build"
    return "embedding" if embedded > embedded_before else "start-up/scan"


def check_serves(index_dir: Path, encoder: OnnxEncoder) -> tuple[str, bool]:
    """Load the published index and search with one gallery image: (generation, found itself)."""
    published = load_published(index_dir)
    items, _ = published.catalog.page(0, 1)
    image = load_rgb(published.gallery_root / items[0].path)
    query = encoder.run(preprocess_batch([image], encoder.preprocessing)).embedding
    _, ids = published.index.search(query, 1)
    return str(published.manifest["generation"]), int(ids[0, 0]) == items[0].id


def compare_published(a: Path, b: Path) -> tuple[list[str], float]:
    """Differences between two published indexes (ignoring build time and generation name, and
    the files' checksums: vectors embedded in other batches differ in the last bits, which the
    vector gap measures instead).

    Returns:
        A list of differing manifest fields and catalog rows, and the largest absolute
        difference between the vectors (and the pivotal tokens) stored for the same id.
    """
    first, second = load_published(a), load_published(b)
    ignored = {"built_at", "generation", "files"}
    keys = (set(first.manifest) | set(second.manifest)) - ignored
    differences = [
        f"manifest {key}: {first.manifest.get(key)!r} != {second.manifest.get(key)!r}"
        for key in sorted(keys)
        if first.manifest.get(key) != second.manifest.get(key)
    ]
    rows_a, rows_b = _catalog_rows(first), _catalog_rows(second)
    differences += [f"catalog row {row}" for row in sorted(rows_a ^ rows_b)]
    ids = sorted(row[0] for row in rows_a & rows_b)
    if not ids:
        return differences + ["no common items"], float("inf")
    gap = max(
        float(np.abs(first.index.reconstruct(i) - second.index.reconstruct(i)).max()) for i in ids
    )
    if first.tokens is not None and second.tokens is not None:
        chosen = np.asarray(ids, dtype=np.int64)
        tokens_gap = float(np.abs(first.tokens.of(chosen) - second.tokens.of(chosen)).max())
        gap = max(gap, tokens_gap)
    elif (first.tokens is None) != (second.tokens is None):
        differences.append("pivotal tokens stored in one index only")
    return differences, gap


def _catalog_rows(published: PublishedIndex) -> set[tuple[Any, ...]]:
    """(id, path, label, sha256, width, height) of every item (``added_at`` is a wall time)."""
    items, _ = published.catalog.page(0, 1_000_000)
    return {(i.id, i.path, i.label, i.sha256, i.width, i.height) for i in items}


def run_indexer_full_disk(
    disk: Path, model: Path, gallery: Path, leave_bytes: int, index_kind: str = "hnsw"
) -> FullDiskRun:
    """Publish an index on ``disk``, fill it, republish (another index kind), then free space."""
    out = disk / "index"
    build_index(model, gallery, out, workers=0, batch_size=64)
    published = _published_files(out)
    filler = fill_disk(disk, leave_bytes)
    free = shutil.disk_usage(disk).free
    argv = ["--model", str(model), "--gallery", str(gallery), "--out", str(out)]
    code, message = run_cli(build_index_cli.main, [*argv, "--workers", "0", "--index", index_kind])
    unchanged = _published_files(out) == published
    result = FullDiskRun(free, code, message, unchanged, temp_leftovers(out), recovered=False)
    filler.unlink()
    code, _ = run_cli(build_index_cli.main, [*argv, "--workers", "0", "--index", index_kind])
    kind = json.loads(published[MANIFEST])["index_type"]
    result.recovered = code == 0 and load_published(out).manifest["index_type"] != kind
    return result


def _published_files(index_dir: Path) -> dict[str, bytes]:
    """The manifest and generation files (not the indexer's working database)."""
    return {k: v for k, v in snapshot(index_dir).items() if not k.startswith(WORKING_DB)}
