"""Measurements behind the trust features, shared by bench/trust.py and the tests.

- :func:`rerank_metrics`: leave-one-out Rank-1 / mAP of a folder of labelled images with and
  without re-ranking the top R by pivotal tokens (the service's rule, on the same encoder outputs).
- :func:`calibration_rates`: through the real app, the share of out-of-domain queries whose top
  hit is ``none`` and of correct in-domain top-1s that are ``strong`` or ``weak``.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from indexer.gallery_index import build_index
from lodisc.evaluation.retrieval_metrics import similarity_metrics
from lodisc.index_format.pivotal_tokens import TOKEN_DTYPE, tokens_per_item
from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.matching import local_scores
from lodisc.inference.onnx_encoder import OnnxEncoder
from lodisc.inference.pivotal import pivotal_map, select_pivotal_tokens
from service.config import Settings
from service.main import create_app

BATCH = 32
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class EncodedFolder:
    """Encoder outputs of a folder's images, with class labels from parent folder names."""

    labels: np.ndarray  # (N,) int64
    embeddings: np.ndarray  # (N, D)
    heats: np.ndarray  # (N, rows, cols) pivotal maps
    patches: np.ndarray  # (N, P, D) patch tokens
    stored_tokens: np.ndarray  # (N, T, D) pivotal tokens as the indexer stores them


def image_paths(folder: Path) -> list[Path]:
    """Images below ``folder``, sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def encode_folder(model: Path, folder: Path, limit: int | None = None) -> EncodedFolder:
    """Embeddings, pivotal maps, patch tokens and stored-format pivotal tokens of a folder."""
    encoder = OnnxEncoder(model, "cpu")
    paths = image_paths(folder)[:limit]
    names = sorted({p.parent.name for p in paths})
    labels = np.array([names.index(p.parent.name) for p in paths], dtype=np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(paths), BATCH):
        images = [load_rgb(p) for p in paths[start : start + BATCH]]
        out = encoder.run(preprocess_batch(images, encoder.preprocessing), explain=True)
        assert out.cls_attention is not None and out.patch_tokens is not None
        heats = np.stack([pivotal_map(rows, encoder.grid_size) for rows in out.cls_attention])
        count = tokens_per_item(out.patch_tokens.shape[1])
        stored = select_pivotal_tokens(out.cls_attention, out.patch_tokens, count)
        parts.append((out.embedding, heats, out.patch_tokens, stored.astype(TOKEN_DTYPE)))
    embeddings, heats, patches, stored = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    return EncodedFolder(labels, embeddings, heats, patches, stored.astype(np.float32))


def reranked_similarity(
    encoded: EncodedFolder, depth: int, weight: float, keep_ratio: float
) -> np.ndarray:
    """(N, N) similarities where each row's top ``depth`` (itself excluded) carry the re-ranked
    score ``(1 - w) * global + w * local`` and sit above the rest, which keep their order."""
    similarity = encoded.embeddings @ encoded.embeddings.T
    np.fill_diagonal(similarity, -np.inf)
    if weight == 0.0:
        return similarity
    ranked = similarity - 4.0  # below any combined score, order kept
    top = np.argsort(-similarity, axis=1)[:, :depth]  # (N, R)
    for query, candidates in enumerate(top):  # one query at a time: (R, T, D) tokens each
        local = local_scores(
            encoded.patches[query],
            encoded.heats[query],
            encoded.stored_tokens[candidates],
            keep_ratio,
        )
        ranked[query, candidates] = (1 - weight) * similarity[query, candidates] + weight * local
    return ranked


def rerank_metrics(
    encoded: EncodedFolder, weights: Sequence[float], depth: int = 100, keep_ratio: float = 0.3
) -> dict[float, dict[str, float]]:
    """Leave-one-out metrics per re-ranking weight (0: the global ranking alone)."""
    return {
        w: similarity_metrics(reranked_similarity(encoded, depth, w, keep_ratio), encoded.labels)
        for w in weights
    }


@dataclass(frozen=True)
class CalibrationRates:
    """Outcome of :func:`calibration_rates`."""

    ood_none: float  # share of out-of-domain queries whose top hit is "none"
    in_domain_graded: float  # share of correct in-domain top-1s that are "strong" or "weak"
    in_domain_correct: float  # share of in-domain queries whose top-1 has the right label
    ood_queries: int
    in_domain_queries: int


@contextmanager
def served_gallery(
    model: Path, gallery: Path, workers: int = 0, **settings: Any
) -> Iterator[TestClient]:
    """``gallery`` indexed with ``model`` in a temporary folder and served in-process (the app's
    default settings, updated with ``settings``)."""
    with tempfile.TemporaryDirectory() as work:
        index_dir = Path(work) / "index"
        build_index(model, gallery, index_dir, index_kind="flat", workers=workers)
        base = Settings(_env_file=None, model_path=model, index_dir=index_dir)  # type: ignore[call-arg]
        with TestClient(create_app(base.model_copy(update=settings))) as client:
            yield client


def calibration_rates(
    model: Path, gallery: Path, in_domain: Sequence[Path], out_of_domain: Sequence[Path]
) -> CalibrationRates:
    """Index ``gallery`` with ``model`` and query it through the app (default settings)."""
    with served_gallery(model, gallery) as client:

        def top_hit(path: Path) -> dict:
            files = {"image": (path.name, path.read_bytes())}
            answer = client.post("/search", files=files, params={"k": 1})
            assert answer.status_code == 200, answer.text
            return answer.json()["results"][0]

        inside = [(top_hit(p), p.parent.name) for p in in_domain]
        outside = [top_hit(p) for p in out_of_domain]
    correct = [hit for hit, label in inside if hit["label"] == label]
    return CalibrationRates(
        ood_none=float(np.mean([hit["match"] == "none" for hit in outside])),
        in_domain_graded=float(np.mean([hit["match"] != "none" for hit in correct])),
        in_domain_correct=len(correct) / max(1, len(inside)),
        ood_queries=len(outside),
        in_domain_queries=len(inside),
    )


@dataclass(frozen=True)
class RegionRates:
    """Top-1 accuracy of small objects on a large background: whole image against a box."""

    whole_image_top1: float
    box_top1: float
    queries: int


def on_background(path: Path, scale: int, seed: int) -> tuple[bytes, tuple[int, int, int, int]]:
    """The image pasted at a random place of a ``scale`` times larger grey canvas with faint
    noise (PNG bytes), and the box around it in canvas pixels."""
    image = load_rgb(path)
    rng = np.random.default_rng(seed)
    width, height = image.width * scale, image.height * scale
    noise = rng.normal(128, 12, size=(height, width, 3)).clip(0, 255).astype(np.uint8)
    canvas = Image.fromarray(noise)
    left = int(rng.integers(0, width - image.width + 1))
    top = int(rng.integers(0, height - image.height + 1))
    canvas.paste(image, (left, top))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue(), (left, top, left + image.width, top + image.height)


def region_rates(
    model: Path, gallery: Path, queries: Sequence[Path], scale: int = 4
) -> RegionRates:
    """Search objects shown small on a large background, whole and by a box around them."""
    whole, boxed = [], []
    with served_gallery(model, gallery) as client:
        for seed, path in enumerate(queries):
            data, box = on_background(path, scale, seed)
            files = {"image": ("q.png", data, "image/png")}
            for params, into in (({}, whole), ({"box": ",".join(map(str, box))}, boxed)):
                answer = client.post("/search", files=files, params={"k": 1, **params})
                assert answer.status_code == 200, answer.text
                into.append(answer.json()["results"][0]["label"] == path.parent.name)
    return RegionRates(float(np.mean(whole)), float(np.mean(boxed)), len(queries))


def alternating_p50_ms(clients: dict[str, TestClient], queries: Sequence[Path]) -> dict[str, float]:
    """``/search`` p50 (ms) of each client, its requests alternating with the others' so that
    the ratios between them hold on a busy machine too."""
    times: dict[str, list[float]] = {name: [] for name in clients}
    for path in queries:
        for name, client in clients.items():
            start = time.perf_counter()
            answer = client.post("/search", files={"image": (path.name, path.read_bytes())})
            times[name].append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}
