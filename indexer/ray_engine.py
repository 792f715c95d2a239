"""The indexer's embedding loop on Ray Data (``build_index.py --engine ray [--ray-address ADDR]``).

The same job as the local engine, spread over a Ray cluster: the file list becomes a dataset,
decode + crop run as CPU tasks, the ONNX Runtime sessions live in a fixed pool of actors (one GPU
each where the cluster has GPUs), and the driver stores each batch of results in the working
database as it arrives, so the content-hash cache, resume after a kill and the publish step are
the local engine's. Workers read the model and the gallery at the driver's paths: on a cluster of
several machines these must be on a shared filesystem.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from indexer.embedder import load_backend
from indexer.working_db import GalleryDB
from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import crop_uint8, normalise

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0  # an unreachable --ray-address fails within this, never hangs
CPUS_PER_ACTOR = 4  # on CPU clusters: one ONNX session per this many cores (intra-op threads)
# Decode tasks ask for less CPU than an actor (1), so that Ray Data does not fuse decoding into the
# actors (it fuses stages of equal resources): fused, each actor decodes and embeds in turn.
DECODE_CPUS = 0.5
# On a CPU cluster of several nodes the encoder actors are placed through a placement group whose
# bundles are spread over the nodes (one per node where the pool is no larger than the cluster),
# and the job starts once every actor has loaded its session. Left to Ray Data (per-actor SPREAD,
# actors started as they come), both actors of a two-node test landed on one node now and then.
# A pool that cannot be placed or started within this fails, naming the reason.
ACTOR_START_TIMEOUT_S = 600
ACTOR_CPUS = 1  # an encoder actor's CPU reservation in such a placement group
RAY_PORT = 6379  # ray start --head's GCS port, when an address names none
CLIENT_PORT = 10001  # the Ray Client server's port (ray://HOST)


class RayEngineError(ConnectionError):
    """A Ray cluster that cannot be reached or used, naming its address."""


def check_reachable(address: str | None) -> None:
    """Fail fast, naming ``address``, when nothing listens there (``ray.init`` would retry).

    Raises:
        RayEngineError: the host does not resolve or refuses the connection in time.
    """
    if address in (None, "", "auto", "local"):
        return
    assert address is not None
    client = address.startswith("ray://")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        host, port = address.removeprefix("ray://"), str(CLIENT_PORT if client else RAY_PORT)
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        message = f"cannot reach the Ray cluster at --ray-address {address}: {err}"
        raise RayEngineError(message) from err


def start_ray(address: str | None) -> bool:
    """Connect to ``address`` (a new local cluster when None); returns whether it was started here.

    A process already connected (a test session, a notebook) keeps its connection.
    """
    import ray

    if ray.is_initialized():
        return False
    check_reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayEngineError(f"cannot connect to the Ray cluster at {address}: {err}") from err
    return True


def decode_rows(batch: dict[str, np.ndarray], root: str, spec: dict[str, Any]) -> dict:
    """Ray task: decode and crop a batch of files; unreadable ones are dropped (and logged).

    Returns:
        ``row`` (B',) int64 and ``pixels`` (B', 3, S, S) uint8 of the files that decoded.
    """
    rows, crops = [], []
    for row, path in zip(batch["row"], batch["path"], strict=True):
        try:
            crops.append(crop_uint8(load_rgb(Path(root) / str(path)), spec))
            rows.append(int(row))
        except Exception as err:  # noqa: BLE001 - any decoder failure skips the file
            logger.warning("cannot decode %s: %s", path, err)
    size = int(spec["img_size"])
    pixels = np.stack(crops) if crops else np.zeros((0, 3, size, size), np.uint8)
    return {"row": np.asarray(rows, dtype=np.int64), "pixels": pixels}


class EmbedActor:
    """Ray actor: one ONNX Runtime (or PyTorch) session embedding decoded batches."""

    def __init__(self, model_path: str, runtime: str, device: str) -> None:
        import ray

        self.backend = load_backend(Path(model_path), runtime, device)
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``row`` (B,), ``vector`` (B, D) float32, ``tokens`` (B, T, D) float16, ``node`` (B,)."""
        images = normalise(batch["pixels"], self.backend.preprocessing)  # (B, 3, S, S) float32
        vectors, tokens = self.backend.embed_with_tokens(images)
        return {
            "row": batch["row"],
            "vector": np.asarray(vectors, dtype=np.float32),
            "tokens": np.asarray(tokens, dtype=np.float16),
            "node": np.full(len(batch["row"]), self.node),  # which Ray node did the work
        }


def embed_on_ray(
    db: GalleryDB,
    model_path: Path,
    runtime: str,
    device: str,
    model: str,
    spec: dict[str, Any],
    gallery: Path,
    todo: list[tuple[str, str]],
    batch_size: int,
    progress: bool,
    address: str | None = None,
    actors: int | None = None,
    actor: type[EmbedActor] = EmbedActor,
    node_rows: Counter[str] | None = None,
) -> list[str]:
    """Embed the missing contents ``todo`` on Ray; commits each batch as it arrives (resumable).

    Args:
        db: the working database (written by the driver only).
        model_path, runtime, device: as ``load_backend`` takes them, in each actor.
        model: the model's sha256 (the cache key).
        spec: the model's preprocessing (crop size, mean, std).
        gallery: the gallery root; ``todo`` holds (content sha256, relative path) pairs.
        batch_size: images per decode task and per encoder call.
        progress: show a progress bar (and Ray Data's).
        address: a Ray cluster (``HOST:PORT``, ``ray://HOST:PORT``, ``auto``); None starts one.
        actors: encoder sessions (default: one per GPU, else one per ``CPUS_PER_ACTOR`` CPUs).
        actor: the actor class (tests pass one that crashes, to check Ray's retries).
        node_rows: when given, filled with the number of images each Ray node id embedded.

    Returns:
        Relative paths that failed to decode (dropped from the items, as the local engine does).
    """
    if not todo:
        return []
    import ray

    started = start_ray(address)
    per_node = node_rows if node_rows is not None else Counter()
    try:
        done = _run_pipeline(db, model_path, runtime, device, model, gallery, todo, spec,
                             batch_size, progress, actors, actor, per_node)  # fmt: skip
    finally:
        if started:
            ray.shutdown()
    failed = [path for row, (_, path) in enumerate(todo) if row not in done]
    if failed:  # the workers' own warnings stay in Ray's logs: name the files here too
        logger.warning("%d file(s) failed to decode, e.g. %s", len(failed), failed[:5])
        db.drop_items(failed)
    return failed


@contextmanager
def spread_placement(pool: int, nodes: int, gpus: int) -> Iterator[dict[str, Any]]:
    """Extra ``map_batches`` arguments placing ``pool`` encoder actors over the nodes of a CPU
    cluster (none on one node, or with GPUs, where each actor takes a GPU of its own); the
    placement group is removed afterwards.

    Raises:
        RayEngineError: the bundles cannot be placed within ``ACTOR_START_TIMEOUT_S``.
    """
    if nodes < 2 or gpus:
        yield {}
        return
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    strategy = "STRICT_SPREAD" if pool <= nodes else "SPREAD"
    group = placement_group([{"CPU": ACTOR_CPUS}] * pool, strategy=strategy)
    try:
        if not group.wait(ACTOR_START_TIMEOUT_S):
            raise RayEngineError(
                f"cannot place {pool} encoder actors of {ACTOR_CPUS} CPU over {nodes} Ray nodes "
                f"within {ACTOR_START_TIMEOUT_S:.0f} s"
            )
        yield {
            "num_cpus": ACTOR_CPUS,
            "scheduling_strategy": PlacementGroupSchedulingStrategy(group),
        }
    finally:
        remove_placement_group(group)


def _run_pipeline(
    db: GalleryDB,
    model_path: Path,
    runtime: str,
    device: str,
    model: str,
    gallery: Path,
    todo: list[tuple[str, str]],
    spec: dict[str, Any],
    batch_size: int,
    progress: bool,
    actors: int | None,
    actor: type[EmbedActor],
    node_rows: Counter[str],
) -> set[int]:
    """Build and drain the dataset; returns the rows of ``todo`` that were embedded."""
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    context.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S if nodes > 1 else -1
    gpus = int(ray.cluster_resources().get("GPU", 0))
    cpus = int(ray.cluster_resources().get("CPU", 1))
    pool = actors or (gpus or max(1, cpus // CPUS_PER_ACTOR))
    items = [{"row": row, "path": path} for row, (_, path) in enumerate(todo)]
    blocks = max(1, min(len(items) // batch_size, 4 * cpus))
    with spread_placement(pool, nodes, gpus) as placement:
        dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            decode_rows,  # type: ignore[arg-type]  # its extra arguments come from fn_kwargs
            batch_size=batch_size,
            batch_format="numpy",
            fn_kwargs={"root": str(gallery), "spec": spec},
            num_cpus=DECODE_CPUS,
        )
        embedded = dataset.map_batches(
            actor,
            fn_constructor_args=(str(model_path), runtime, device),
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=pool),
            num_gpus=1 if gpus else 0,
            **placement,
        )
        logger.info(
            "embedding %d files on Ray: %d encoder actor(s), %d GPU(s)", len(todo), pool, gpus
        )
        done: set[int] = set()
        bar = tqdm(total=len(todo), desc="embed (ray)", unit="img", disable=not progress)
        for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
            rows = batch["row"].tolist()
            db.store_embeddings(model, [todo[r][0] for r in rows], batch["vector"], batch["tokens"])
            done.update(rows)
            node_rows.update(batch["node"].tolist())
            bar.update(len(rows))
        bar.close()
    logger.info("images embedded per Ray node: %s", dict(node_rows))
    return done
