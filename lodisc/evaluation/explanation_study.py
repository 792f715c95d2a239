"""The explanation measurements on a synthetic set, shared by the benchmark and the tests.

For pairs of images of two classes that share some part slots and differ in others (the
generator's ``meta.json`` says which), with an exported ONNX encoder:
- part contrast: the hit's match map's heat on shared parts against differing parts;
- deletion: the area under the similarity curve when the hit's patches are blanked in the order
  of its match map, its own pivotal map, and random orders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from lodisc.data.synthetic import load_part_mask
from lodisc.evaluation.explanation_metrics import (
    area_under,
    deletion_curve,
    heat_on,
    patch_coverage,
)
from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.matching import explain_matches
from lodisc.inference.onnx_encoder import OnnxEncoder
from lodisc.inference.pivotal import pivotal_map

PART_MASK_OFFSET = 2  # mask values: 0 background, 1 body, 2 + s part slot s
MATCH_KEEP_RATIO = 0.3  # query patches matched, as the service's default match_keep_ratio
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ENCODE_BATCH = 32  # images per encoder call


@dataclass
class ExplanationStudy:
    """Per pair: heat on shared and on differing parts; per map kind: deletion areas."""

    shared_heat: list[float] = field(default_factory=list)
    differing_heat: list[float] = field(default_factory=list)
    deletion_area: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Means over pairs (and the share of pairs where shared parts are hotter)."""
        out: dict[str, float] = {}
        if self.shared_heat:
            shared, differing = np.array(self.shared_heat), np.array(self.differing_heat)
            out = {
                "pairs": float(len(shared)),
                "heat_shared_parts": float(np.nanmean(shared)),
                "heat_differing_parts": float(np.nanmean(differing)),
                "share_of_pairs_shared_hotter": float((shared > differing).mean()),
            }
        out.update({f"deletion_auc_{k}": float(np.mean(v)) for k, v in self.deletion_area.items()})
        return out


def sharing_pairs(data_dir: Path, split: str, per_pair: int) -> list[tuple[Path, Path, list[int]]]:
    """(query image, hit image, shared slots) for class pairs sharing 1 to slots-1 part shapes.

    Images are taken in file order, ``per_pair`` per class pair (query i of class a with image i
    of class b)."""
    meta = json.loads((data_dir / "meta.json").read_text())
    classes = meta["classes"]
    files = {c["name"]: sorted((data_dir / split / c["name"]).glob("*.png")) for c in classes}
    pairs = []
    for a, b in combinations(classes, 2):
        shared = [s for s, (x, y) in enumerate(zip(a["parts"], b["parts"], strict=True)) if x == y]
        if 0 < len(shared) < len(a["parts"]):
            for query, hit in list(zip(files[a["name"]], files[b["name"]], strict=False))[
                :per_pair
            ]:
                pairs.append((query, hit, shared))
    return pairs


def _explain(encoder: OnnxEncoder, paths: list[Path]) -> tuple[np.ndarray, ...]:
    """Normalised batch, embeddings, pivotal maps (B, rows, cols) and patch tokens of images,
    encoded ``ENCODE_BATCH`` at a time."""
    parts = []
    for start in range(0, len(paths), ENCODE_BATCH):
        chunk = paths[start : start + ENCODE_BATCH]
        batch = preprocess_batch([load_rgb(p) for p in chunk], encoder.preprocessing)
        out = encoder.run(batch, explain=True)
        assert out.cls_attention is not None and out.patch_tokens is not None
        maps = np.stack([pivotal_map(rows, encoder.grid_size) for rows in out.cls_attention])
        parts.append((batch, out.embedding, maps, out.patch_tokens))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def part_contrast(
    encoder: OnnxEncoder, data_dir: Path, study: ExplanationStudy, split: str, per_pair: int
) -> None:
    """Heat of each pair's hit match map on the shared and on the differing parts."""
    grid = encoder.grid_size
    for query_path, hit_path, shared in sharing_pairs(data_dir, split, per_pair):
        _, _, maps, tokens = _explain(encoder, [query_path, hit_path])
        match = explain_matches(tokens[0], maps[0], tokens[1:], MATCH_KEEP_RATIO)[0]
        slots = load_part_mask(hit_path).astype(np.int64) - PART_MASK_OFFSET  # parts >= 0
        differing = [s for s in range(int(slots.max()) + 1) if s not in shared]
        for region, into in ((shared, study.shared_heat), (differing, study.differing_heat)):
            into.append(heat_on(match.hit_map, patch_coverage(np.isin(slots, region), grid)))


def deletion_areas(
    encoder: OnnxEncoder,
    paths: list[Path],
    study: ExplanationStudy,
    queries: int,
    random_orders: int,
) -> None:
    """Deletion areas for each query's top-1 hit among ``paths`` (itself excluded), blanking the
    hit's patches by its match map, its own pivotal map and random orders."""
    grid = encoder.grid_size
    batch, embeddings, maps, tokens = _explain(encoder, paths)
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -np.inf)
    rng = np.random.default_rng(0)

    def embed(images: np.ndarray) -> np.ndarray:
        return encoder.run(images).embedding

    for query in rng.choice(len(paths), size=min(queries, len(paths)), replace=False):
        hit = int(similarity[query].argmax())
        match = explain_matches(tokens[query], maps[query], tokens[hit : hit + 1], MATCH_KEEP_RATIO)
        orders = {
            "match_map": np.argsort(-match[0].hit_map.ravel(), kind="stable"),
            "pivotal_map": np.argsort(-maps[hit].ravel(), kind="stable"),
        }
        orders.update(
            {f"random{i}": rng.permutation(grid[0] * grid[1]) for i in range(random_orders)}
        )
        areas = {
            name: area_under(deletion_curve(embed, embeddings[query], batch[hit], order, grid))
            for name, order in orders.items()
        }
        for name in ("match_map", "pivotal_map"):
            study.deletion_area.setdefault(name, []).append(areas[name])
        randoms = [areas[f"random{i}"] for i in range(random_orders)]
        study.deletion_area.setdefault("random", []).append(float(np.mean(randoms)))


def run_study(
    model: Path,
    data_dir: Path,
    split: str = "test",
    per_pair: int = 1,
    queries: int = 60,
    random_orders: int = 3,
) -> ExplanationStudy:
    """Part contrast (synthetic sets with part masks) and deletion areas of an exported model.

    Args:
        model: the ONNX file.
        data_dir: a ``train/`` + ``test/`` image folder; part contrast runs only where it has the
            synthetic generator's ``meta.json``.
        split: which split's images are used.
        per_pair: images per class pair in the part contrast.
        queries: queries of the deletion test.
        random_orders: random deletion orders per query (their areas are averaged).
    """
    encoder = OnnxEncoder(model, "cpu")
    study = ExplanationStudy()
    if (data_dir / "meta.json").is_file():
        part_contrast(encoder, data_dir, study, split, per_pair)
    paths = sorted(p for p in (data_dir / split).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    deletion_areas(encoder, paths, study, queries, random_orders)
    return study
