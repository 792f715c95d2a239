"""The photo encoder on real photographs: frozen Lite0, the hybrid at step 0, MoCo v3 and LoDisc.

For each dataset and seed both methods start from the same init (``--init lite0``), see the same
batches and views (same seed) and run the same number of steps; leave-one-out retrieval on test/.
The stem is frozen in every run, so the test set's stem maps are computed once per dataset and
every model (and the pooled frozen-Lite0 baseline) is evaluated on them. Runs are cached in --work.

    python bench/real_photos.py --datasets cars60 flowers12 --seeds 0 1 2 --steps 40
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.common.results import record
from lodisc.checkpoint import load_encoder
from lodisc.config import LoDiscConfig, PretrainConfig
from lodisc.data.image_folders import list_images, resolve_split
from lodisc.evaluation.embed import make_eval_loader
from lodisc.evaluation.eval_transform import eval_transform
from lodisc.evaluation.retrieval_metrics import chance_map, retrieval_metrics
from lodisc.models.encoder import Encoder
from lodisc.models.lodisc_model import LoDiscModel
from training import pretrain
from training.init_weights import initialise, read_init

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CONFIG = REPO / "training" / "configs" / "photo_cpu.yaml"
METHODS = {"moco_v3": ["--local-weight", "0"], "lodisc": []}
EVAL_CHUNK = 64  # stem maps per transformer pass at evaluation


@torch.no_grad()
def test_stem_maps(data: Path, cfg: PretrainConfig) -> tuple[torch.Tensor, np.ndarray]:
    """Frozen-stem maps (N, C, h, w) float16 of test/ (eval transform), and the labels."""
    model = LoDiscModel(cfg.encoder, LoDiscConfig())
    initialise(model, read_init(cfg.init))
    stem = model.student.backbone.eval()
    test = list_images(resolve_split(data, "test"))
    loader = make_eval_loader(test, eval_transform(cfg.encoder), EVAL_CHUNK, 2)
    maps, labels = [], []
    for images, batch_labels in loader:
        maps.append(stem.forward_stem(images).half())
        labels.append(batch_labels)
    return torch.cat(maps), torch.cat(labels).numpy()


@torch.no_grad()
def metrics_of(encoder: Encoder, maps: torch.Tensor, labels: np.ndarray) -> dict[str, float]:
    """Rank-1, Rank-5, mAP of an encoder's retrieval feature computed from shared stem maps."""
    feats = []
    for chunk in maps.split(EVAL_CHUNK):
        cls = encoder.backbone.forward_from_stem(chunk.float())
        feats.append(encoder.forward_head(cls) if encoder.cfg.retrieval_feature != "cls" else cls)
    feats_np = F.normalize(torch.cat(feats), dim=1).numpy()
    found = retrieval_metrics(feats_np, labels)
    return {key: float(found[key]) for key in ("rank1", "rank5", "mAP")}


def baselines(
    maps: torch.Tensor, labels: np.ndarray, cfg: PretrainConfig, seed: int
) -> dict[str, dict[str, float]]:
    """Frozen Lite0 (pooled stem features) and the hybrid at step 0 (after ``--init``)."""
    pooled = F.normalize(maps.float().mean(dim=(2, 3)), dim=1).numpy()
    found = retrieval_metrics(pooled, labels)
    torch.manual_seed(seed)
    model = LoDiscModel(cfg.encoder, LoDiscConfig())
    initialise(model, read_init(cfg.init))
    return {
        "frozen_lite0": {key: float(found[key]) for key in ("rank1", "rank5", "mAP")},
        "step0": metrics_of(model.student.eval(), maps, labels),
    }


def train_one(data: Path, out: Path, method: str, seed: int, args: argparse.Namespace) -> dict:
    """Pretrain one run (cached as out/result.json); returns its figures except retrieval."""
    flags = ["--data", str(data), "--out", str(out), "--config", args.config, "--seed", str(seed)]
    flags += ["--max-steps", str(args.steps), "--batch-size", str(args.batch_size)]
    flags += ["--epochs", str(args.epochs), "--set", "log_every=1", *METHODS[method]]
    flags += ["--img-size", str(args.img_size), "--local-mode", args.local_mode]
    flags += [*(["--lr", str(args.lr)] if args.lr else []), *(f"--set={item}" for item in args.set)]
    if (out / "checkpoint.pt").is_file():
        flags.append("--resume")
    if pretrain.main(flags) != 0:
        raise SystemExit(f"pretraining failed: {out}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    walls = [r["wall_s"] for r in records if "wall_s" in r]
    return {
        "steps": int(records[-1]["step"]),
        "wall_s": walls[-1],
        "step_s": float(np.median(np.diff(walls))) if len(walls) > 1 else walls[-1],
    }


def run_one(
    data: Path, out: Path, method: str, seed: int, args: argparse.Namespace, test: tuple
) -> dict:
    """Train (or reuse) and evaluate one run."""
    cached = out / "result.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    result = train_one(data, out, method, seed, args)
    encoder, _ = load_encoder(out / "checkpoint.pt")
    result.update(metrics_of(encoder, *test))
    cached.write_text(json.dumps(result))
    return result


def summarise(values: list[float]) -> str:
    """Mean (min-max)."""
    return f"{statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def table_rows(name: str, rows: dict[str, list[dict]]) -> list[str]:
    """Markdown rows: Rank-1, Rank-5, mAP as mean (min-max) over seeds, plus steps and wall time."""
    out = []
    for method, runs in rows.items():
        cells = [summarise([r[key] for r in runs]) for key in ("rank1", "rank5", "mAP")]
        steps = f"{runs[0]['steps']}" if "steps" in runs[0] else "0"
        wall = f"{statistics.mean(r['wall_s'] for r in runs):.0f}" if "wall_s" in runs[0] else "-"
        out.append(f"| {name} | {method} | {' | '.join(cells)} | {steps} | {wall} |")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=["cars60", "flowers12"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=40, help="optimiser steps per run (budget)")
    parser.add_argument("--epochs", type=int, default=2, help="schedule length (cosine, EMA)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--local-mode", choices=["pixel", "drop"], default="pixel")
    parser.add_argument("--lr", type=float, help="base learning rate (default: the config's)")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--work", default=str(REPO / "runs" / "real_photos"))
    parser.add_argument("--section", default="real_photos", help="RESULTS.md section name")
    parser.add_argument("--no-record", action="store_true", help="print only (smoke runs)")
    args = parser.parse_args(argv)
    cfg = PretrainConfig.from_yaml(args.config)
    cfg.encoder = dataclasses.replace(cfg.encoder, img_size=args.img_size)
    lines, summary = [], {}
    for name in args.datasets:
        data = SHARED / name
        if not data.is_dir():
            print(f"skipping {name}: not found under {SHARED}")
            continue
        maps, labels = test_stem_maps(data, cfg)
        rows: dict[str, list[dict]] = {"frozen_lite0": [], "step0": []}
        rows.update({method: [] for method in METHODS})
        for seed in args.seeds:
            for key, value in baselines(maps, labels, cfg, seed).items():
                rows[key].append(value)
            for method in METHODS:
                out = Path(args.work) / name / f"{method}-seed{seed}"
                rows[method].append(run_one(data, out, method, seed, args, (maps, labels)))
        lines += table_rows(f"{name} (chance mAP {chance_map(labels):.3f})", rows)
        step_ratio = statistics.mean(r["step_s"] for r in rows["lodisc"]) / statistics.mean(
            r["step_s"] for r in rows["moco_v3"]
        )
        summary[name] = {m: statistics.mean(r["mAP"] for r in runs) for m, runs in rows.items()}
        summary[name]["step_time_lodisc_over_moco"] = round(step_ratio, 3)
    table = "\n".join(
        [
            "| data | row | Rank-1 | Rank-5 | mAP | steps | wall s |",
            "|---|---|---|---|---|---|---|",
            *lines,
        ]
    )
    print(table)
    body = (
        f"Seeds {args.seeds}; `{Path(args.config).name}` at {args.img_size} px, batch "
        f"{args.batch_size}, {args.steps} steps of a {args.epochs}-epoch schedule, local mode "
        f"{args.local_mode}, lr {args.lr or cfg.lr}, overrides {args.set}; mean (min-max) over "
        f"seeds, last checkpoint.\n\n{table}\n\n"
        f"Summary (mean mAP, step time LoDisc / MoCo v3): `{json.dumps(summary)}`"
    )
    if not args.no_record:
        record(args.section, body)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
