"""Retrieval evaluation CLI: ``python training/evaluate.py --checkpoint CKPT --data DIR [--linear-probe]``.

Leave-one-out retrieval on ``DIR/test`` (Rank-1, Rank-5, mAP, Recall@1/2/4/8); with
``--linear-probe`` a linear classifier on cached frozen CLS features of ``DIR/train``. The last stdout
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from lodisc.checkpoint import CheckpointError, load_encoder
from lodisc.data.image_folders import DataError, list_images, resolve_split
from lodisc.evaluation.embed import embed_images, make_eval_loader
from lodisc.evaluation.eval_transform import eval_transform
from lodisc.evaluation.linear_probe import ProbeConfig, train_linear_probe
from lodisc.evaluation.retrieval_metrics import chance_map, retrieval_metrics
from lodisc.runtime import pick_device

logger = logging.getLogger("training.evaluate")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="folder with test/<class>/* (and train/)")
    parser.add_argument("--linear-probe", action="store_true")
    parser.add_argument("--probe-epochs", type=int, default=ProbeConfig.epochs)
    parser.add_argument(
        "--feature", choices=["predictor", "cls"], help="override the retrieval feature"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=2)
    return parser.parse_args(argv)


def evaluate(args: argparse.Namespace) -> dict[str, float]:
    """Embed, then compute the metrics; returns the JSON-ready result."""
    if args.probe_epochs < 1:
        raise ValueError(f"--probe-epochs must be at least 1, got {args.probe_epochs}")
    device = pick_device(args.device)
    encoder, cfg = load_encoder(args.checkpoint, device)
    if args.feature:
        encoder.cfg.retrieval_feature = args.feature
    transform = eval_transform(cfg)
    test = list_images(resolve_split(args.data, "test"))
    loader = make_eval_loader(test, transform, args.batch_size, args.num_workers)
    feats, labels = embed_images(encoder, loader, device, progress=True)
    metrics = retrieval_metrics(feats, labels, ks=(1, 2, 4, 5, 8))
    result = {
        "rank1": metrics["rank1"],
        "rank5": metrics["rank5"],
        "mAP": metrics["mAP"],
        **{f"recall@{k}": metrics[f"recall@{k}"] for k in (1, 2, 4, 8)},
        "chance_mAP": chance_map(labels),
        "queries": int(metrics["queries"]),
        "skipped_files": len(test.skipped),
    }
    if args.linear_probe:
        train = list_images(resolve_split(args.data, "train"))
        if train.classes != test.classes:
            raise DataError(
                "train/ and test/ must have the same class folders for the linear probe"
            )
        train_loader = make_eval_loader(train, transform, args.batch_size, args.num_workers)
        train_x, train_y = embed_images(encoder.forward_cls, train_loader, device, progress=True)
        test_x, test_y = embed_images(encoder.forward_cls, loader, device)
        probe = ProbeConfig(epochs=args.probe_epochs)
        result.update(train_linear_probe(train_x, train_y, test_x, test_y, probe, device))
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the metrics as the last stdout line."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        result = evaluate(args)
    except (DataError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
