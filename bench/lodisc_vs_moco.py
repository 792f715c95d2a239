"""LoDisc against MoCo v3 (local weight 0) with the same budget, init, batches and views per seed.

For each dataset and seed it pretrains both methods (and records an untrained network), evaluates
leave-one-out retrieval on test/, and reports mean and spread. Finished runs are cached in --work,
so an interrupted benchmark resumes where it stopped.

    python bench/lodisc_vs_moco.py --datasets synthetic-easy synthetic-hard flowers12 cars60 --seeds 0 1 2

``--shrink PX`` trains and evaluates on a copy of a real set whose shorter sides are at most PX
(made once in --work): decoding and cropping 1024-px photographs for 64-px views otherwise takes
most of a CPU run.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from PIL import Image

from bench.common.results import record
from lodisc.data.synthetic import generate_dataset
from training import evaluate, pretrain

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SYNTHETIC = {"synthetic-easy": "easy", "synthetic-hard": "hard"}
METHODS = {"untrained": ["--epochs", "0"], "moco_v3": ["--local-weight", "0"], "lodisc": []}


def shrunk_copy(source: Path, out: Path, shorter: int) -> Path:
    """A copy of ``source`` (train/ and test/) with shorter sides at most ``shorter`` px (bicubic,
    never enlarged), made once; unreadable files are left out, as the loaders would skip them."""
    done = out / ".complete"
    if done.is_file():
        return out
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        target = out / path.relative_to(source).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except OSError:
            continue
        scale = shorter / min(image.size)
        if scale < 1:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.BICUBIC)
        image.save(target)
    done.touch()
    return out


def dataset_dir(name: str, work: Path, size: int, per_class: int) -> Path | None:
    """A synthetic set generated once in ``work``, or a shared real set (None when absent)."""
    if name in SYNTHETIC:
        out = work / "data" / f"{name}-{per_class}"
        if not (out / "meta.json").is_file():
            generate_dataset(
                out,
                classes=12,
                per_class=per_class,
                size=size,
                seed=0,
                difficulty=SYNTHETIC[name],
                test_per_class=15,
                overwrite=True,
            )
        return out
    path = SHARED / name
    return path if path.is_dir() else None


def run_one(data: Path, out: Path, method: str, seed: int, args: argparse.Namespace) -> dict:
    """Pretrain (or reuse) one run and evaluate it; cached as out/result.json."""
    cached = out / "result.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    flags = ["--data", str(data), "--out", str(out), "--config", args.config, "--seed", str(seed)]
    if args.epochs is not None:
        flags += ["--epochs", str(args.epochs)]
    if args.max_steps:
        flags += ["--max-steps", str(args.max_steps)]
    flags += METHODS[method]
    if (out / "checkpoint.pt").is_file():
        flags.append("--resume")
    if pretrain.main(flags) != 0:
        raise SystemExit(f"pretraining failed: {out}")
    eval_args = evaluate.parse_args(
        ["--checkpoint", str(out / "checkpoint.pt"), "--data", str(data)]
    )
    result = evaluate.evaluate(eval_args)
    cached.write_text(json.dumps(result))
    return result


def summarise(values: list[float]) -> str:
    """Mean +- sample standard deviation."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {spread:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--datasets", nargs="+", default=["synthetic-easy", "synthetic-hard", "flowers12", "cars60"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--config", default=str(REPO / "training" / "configs" / "synthetic_easy_cpu.yaml")
    )
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument(
        "--max-steps", type=int, default=0, help="stop each run after this many steps"
    )
    parser.add_argument("--size", type=int, default=64, help="synthetic image size")
    parser.add_argument(
        "--per-class", type=int, default=100, help="synthetic training images per class"
    )
    parser.add_argument("--work", default=str(REPO / "runs" / "lodisc_vs_moco"))
    parser.add_argument(
        "--shrink", type=int, default=0, help="real sets: shorter sides at most this (0: as is)"
    )
    parser.add_argument("--section", default="lodisc_vs_moco", help="RESULTS.md section name")
    args = parser.parse_args(argv)
    work = Path(args.work)
    rows, summary = [], {}
    for name in args.datasets:
        data = dataset_dir(name, work, args.size, args.per_class)
        if data is None:
            print(f"skipping {name}: not found under {SHARED}")
            continue
        if args.shrink and name not in SYNTHETIC:
            name = f"{name}-max{args.shrink}px"
            data = shrunk_copy(data, work / "data" / name, args.shrink)
        results: dict[str, list[dict]] = {m: [] for m in METHODS}
        for seed in args.seeds:
            for method in METHODS:
                results[method].append(
                    run_one(data, work / name / f"{method}-seed{seed}", method, seed, args)
                )
        chance = results["lodisc"][0]["chance_mAP"]
        for method, runs in results.items():
            rank1 = [r["rank1"] for r in runs]
            mean_ap = [r["mAP"] for r in runs]
            rows.append(
                f"| {name} | {method} | {summarise(rank1)} | {summarise(mean_ap)} | {chance:.3f} |"
            )
            summary[f"{name}/{method}"] = {
                "rank1": statistics.mean(rank1),
                "mAP": statistics.mean(mean_ap),
            }
        pairs = zip(results["lodisc"], results["moco_v3"], strict=True)
        wins = sum(ours["mAP"] > base["mAP"] for ours, base in pairs)
        summary[f"{name}/lodisc_mAP_wins"] = f"{wins}/{len(args.seeds)}"
    table = "\n".join(
        [
            "| data | method | Rank-1 (mean +- sd) | mAP (mean +- sd) | chance mAP |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    record(
        args.section,
        f"Seeds {args.seeds}, config `{Path(args.config).name}`"
        f"{'' if args.epochs is None else f', epochs {args.epochs}'}"
        f"{f', stopped after {args.max_steps} steps' if args.max_steps else ''}; figures of the last "
        f"checkpoint (not the best epoch).\n\n{table}",
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
