"""Results a person can trust, measured: calibration, explanations, re-ranking, region search.

    python -m bench.trust [--photos ../shared/data] [--quick]

On the demo set (the shipped demo model) and, with the photo encoder (the Lite0 hybrid at its
pretrained start: the encoder every photo gallery starts from), on flowers12 and cars60:
- calibration: out-of-domain top hits graded ``none`` (photos against the synthetic gallery, and
  synthetic images against a photo gallery), correct in-domain top-1s graded strong or weak;
- explanations: match-map heat on shared vs differing parts (synthetic), and deletion areas of
  the match map, the hit's pivotal map and random orders (lower: more faithful);
- re-ranking by pivotal tokens: leave-one-out Rank-1 / mAP per weight, and its /search p50 cost;
- region search: small objects on a large background, whole image vs a box.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from bench.common.results import record
from harness.trust_study import (
    alternating_p50_ms,
    calibration_rates,
    encode_folder,
    image_paths,
    region_rates,
    rerank_metrics,
)
from indexer.gallery_index import build_index
from lodisc.config import PretrainConfig
from lodisc.data.synthetic import generate_dataset
from lodisc.evaluation.explanation_study import run_study
from service.config import Settings
from service.main import create_app
from training import export_onnx
from training.adapt_photos import RECIPE, pretrained_start

REPO = Path(__file__).resolve().parents[1]
DEMO_CHECKPOINT = REPO / "models" / "demo" / "checkpoint.pt"
WEIGHTS = (0.0, 0.25, 0.5)


def export(checkpoint: Path, out: Path) -> Path:
    """ONNX export of a checkpoint (the parity check included)."""
    assert export_onnx.main(["--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    return out


def photo_encoder(work: Path) -> Path:
    """The photo encoder at its pretrained start, exported."""
    checkpoint = pretrained_start(PretrainConfig.from_yaml(RECIPE), work / "photo")
    return export(checkpoint, work / "photo.onnx")


def calibration_rows(demo: Path, photo: Path, synthetic: Path, photos: Path, n: int) -> list[str]:
    """Both directions: photos vs the synthetic gallery, synthetic images vs a photo gallery."""
    random.seed(0)
    photo_queries = random.sample(image_paths(photos / "flowers12" / "test"), n // 2)
    photo_queries += random.sample(image_paths(photos / "cars60" / "test"), n // 2)
    synthetic_queries = random.sample(image_paths(synthetic / "train"), n)
    rows = []
    runs = (
        (
            "demo model, synthetic gallery",
            demo,
            synthetic / "test",
            synthetic_queries,
            photo_queries,
        ),
        (
            "photo encoder, flowers12 gallery",
            photo,
            photos / "flowers12" / "test",
            random.sample(image_paths(photos / "flowers12" / "train"), n),
            synthetic_queries,
        ),
    )
    for name, model, gallery, inside, outside in runs:
        rates = calibration_rates(model, gallery, inside, outside)
        rows.append(
            f"| {name} | {rates.ood_none:.3f} ({rates.ood_queries}) | "
            f"{rates.in_domain_graded:.3f} | {rates.in_domain_correct:.3f} "
            f"({rates.in_domain_queries}) |"
        )
    return rows


def explanation_rows(demo: Path, photo: Path, synthetic: Path, photos: Path, n: int) -> list[str]:
    """Part contrast (synthetic) and deletion areas per map."""
    rows = []
    for name, model, data in (
        ("demo model, synthetic test", demo, synthetic),
        ("photo encoder, flowers12 test", photo, photos / "flowers12"),
        ("photo encoder, cars60 test", photo, photos / "cars60"),
    ):
        s = run_study(model, data, per_pair=2, queries=n, random_orders=3).summary()
        parts = (
            f"{s['heat_shared_parts']:.3f} / {s['heat_differing_parts']:.3f} "
            f"({s['share_of_pairs_shared_hotter']:.2f} of {int(s['pairs'])} pairs)"
            if "pairs" in s
            else "n/a (no part masks)"
        )
        rows.append(
            f"| {name} | {parts} | {s['deletion_auc_match_map']:.3f} | "
            f"{s['deletion_auc_pivotal_map']:.3f} | {s['deletion_auc_random']:.3f} |"
        )
    return rows


def rerank_rows(demo: Path, photo: Path, synthetic: Path, photos: Path) -> list[str]:
    """Leave-one-out Rank-1 / mAP per re-ranking weight (R = 100)."""
    rows = []
    for name, model, folder in (
        ("demo model, synthetic test", demo, synthetic / "test"),
        ("photo encoder, flowers12 test", photo, photos / "flowers12" / "test"),
        ("photo encoder, cars60 test", photo, photos / "cars60" / "test"),
    ):
        metrics = rerank_metrics(encode_folder(model, folder), WEIGHTS, depth=100)
        cells = " | ".join(f"{m['rank1']:.3f} / {m['mAP']:.4f}" for m in metrics.values())
        rows.append(f"| {name} | {cells} |")
    return rows


def rerank_latency(model: Path, gallery: Path, queries: list[Path], work: Path) -> str:
    """/search p50 without and with re-ranking (R = 100), alternating requests in one run."""
    index = work / "latency-index"
    build_index(model, gallery, index, index_kind="flat", workers=0)
    base = Settings(_env_file=None, model_path=model, index_dir=index)  # type: ignore[call-arg]
    settings = {"off": {"rerank": False}, "on": {"rerank": True}}
    clients = {k: TestClient(create_app(base.model_copy(update=v))) for k, v in settings.items()}
    with clients["off"], clients["on"]:
        p50 = alternating_p50_ms(clients, queries * 2)
    off, on = p50["off"], p50["on"]
    return (
        f"/search p50 {off:.1f} ms without re-ranking, {on:.1f} ms with R = 100 ({on / off:.2f}x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--quick", action="store_true", help="fewer queries (a smoke run)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    n = 40 if args.quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = export(DEMO_CHECKPOINT, work / "demo.onnx")
        photo = photo_encoder(work)
        synthetic = generate_dataset(
            work / "synthetic", classes=12, per_class=100, size=64, seed=0, test_per_class=15
        )
        calibration = calibration_rows(demo, photo, synthetic, args.photos, n)
        explanations = explanation_rows(demo, photo, synthetic, args.photos, n // 4)
        rerank = rerank_rows(demo, photo, synthetic, args.photos)
        queries = image_paths(args.photos / "flowers12" / "test")[::12][: n // 10]
        latency = rerank_latency(photo, args.photos / "flowers12" / "test", queries, work)
        random.seed(0)
        region = region_rates(
            demo, synthetic / "test", random.sample(image_paths(synthetic / "train"), n)
        )
    body = "\n".join(
        [
            "Calibration (match of the top hit; thresholds from each gallery's own nearest-neighbour "
            "similarities and pivotal-token coverage, default settings):",
            "",
            "| encoder, gallery | out-of-domain top hit `none` (queries) | correct in-domain top-1 "
            "strong/weak | in-domain top-1 correct (queries) |",
            "|---|---|---|---|",
            *calibration,
            "",
            "Explanations (heat in [0, 1]; deletion: area under the query-hit similarity as the "
            "hit's patches are blanked, most heat first; lower is more faithful):",
            "",
            "| encoder, set | match-map heat shared / differing parts | deletion: match map | "
            "hit's pivotal map | random |",
            "|---|---|---|---|---|",
            *explanations,
            "",
            f"Re-ranking by pivotal tokens, leave-one-out Rank-1 / mAP by weight {WEIGHTS} "
            "(0 = global score only; R = 100):",
            "",
            "| encoder, set | " + " | ".join(f"w = {w}" for w in WEIGHTS) + " |",
            "|---|" + "---|" * len(WEIGHTS),
            *rerank,
            "",
            f"Cost: {latency} (photo encoder, flowers12 gallery, sequential requests).",
            "",
            f"Region search (demo objects at 1/4 size on a 4x larger noisy canvas, {region.queries} "
            f"queries): top-1 correct {region.whole_image_top1:.3f} for the whole image, "
            f"{region.box_top1:.3f} with a box around the object.",
        ]
    )
    print(body)
    if not args.no_record:
        record("trust", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
