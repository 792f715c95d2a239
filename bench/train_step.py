"""Wall time of one LoDisc training step against one MoCo v3 step (same model, same batch).

Both variants run on the same ``LoDiscModel``: ``local_weight=1.0`` is LoDisc (teacher attention
rows, mask, masked teacher pass), ``local_weight=0.0`` is exactly MoCo v3. Steps are interleaved
(LoDisc, MoCo, MoCo, LoDisc, ...) after warm-up and the medians are compared, so noise hits both.

Arithmetic (forward = 1 unit, backward = 2): MoCo = student 3 + teacher 1 = 4 units per view pair;
LoDisc adds one masked teacher pass: 1 unit with pixel masking (5 / 4 = 1.25), about 0.3 with token
dropping at keep ratio 0.3 (4.3 / 4 = 1.075).

CPU runs use one torch thread by default (``--threads``): on the 2 shared cores a second thread
gave step times spread over 3x, one thread under 2x.

The model runs at ``--arch``'s own patch size unless ``--patch-size`` is given (the default
``vit_tiny_patch16_224`` at 64 px: a 4x4 grid; the default runs recorded before the change used
``--patch-size 8``, an 8x8 grid).

``--breakdown`` also times the parts of the LoDisc step separately (teacher pass with and without
the attention hooks, mask building, the masked teacher pass) to explain a missed goal.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import timm
import torch

from bench.common.results import record
from bench.common.step_timing import breakdown, median_ms, timed
from lodisc.config import EncoderConfig, LoDiscConfig
from lodisc.models.lodisc_model import LoDiscModel
from lodisc.runtime import pick_device

GOALS = {"pixel": 1.3, "drop": 1.1}
TINY_KWARGS = {"embed_dim": 64, "depth": 4, "num_heads": 2}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; ``--tiny`` shrinks everything for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_tiny_patch16_224")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument(
        "--patch-size",
        type=int,
        default=None,
        help="default: the arch's own (16 for *_patch16_*); the runs recorded before 2026-12 "
        "used 8 at 64 px",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="measured steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps per variant")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--local-mode", choices=("pixel", "drop"), default="pixel")
    parser.add_argument("--predictor-hidden-dim", type=int, default=4096)
    parser.add_argument("--tiny", action="store_true", help="tiny ViT, 32 px, batch 8, 4 steps")
    parser.add_argument("--breakdown", action="store_true", help="also time the step's parts")
    parser.add_argument(
        "--no-record", action="store_true", help="do not write RESULTS.md (implied by --tiny)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (0: torch's default). 1 by default: on 2 shared, noisy cores a "
        "second thread makes every op wait for the slower core and triples the spread",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.tiny:
        args.img_size, args.patch_size, args.batch_size = 32, 8, 8
        args.steps, args.warmup, args.predictor_hidden_dim = 4, 1, 256
    return args


def own_patch_size(arch: str) -> int:
    """The patch size ``arch`` has when none is asked for (built on the meta device: no memory)."""
    with torch.device("meta"):
        backbone = timm.create_model(arch, pretrained=False, num_classes=0)
    return int(backbone.patch_embed.patch_size[0])


def build(args: argparse.Namespace, device: torch.device) -> LoDiscModel:
    """The model under test, in training mode on ``device``."""
    encoder = EncoderConfig(
        arch=args.arch,
        img_size=args.img_size,
        patch_size=args.patch_size,
        timm_kwargs=dict(TINY_KWARGS) if args.tiny else {},
        predictor_hidden_dim=args.predictor_hidden_dim,
    )
    return LoDiscModel(encoder, LoDiscConfig(local_mode=args.local_mode)).to(device).train()


def make_step(
    model: LoDiscModel,
    optimizer: torch.optim.Optimizer,
    views: tuple[torch.Tensor, torch.Tensor],
    device: torch.device,
) -> Callable[[float], None]:
    """A full training step at a given local weight, as ``training/engine.py`` runs it."""
    use_amp = device.type == "cuda"

    def step(local_weight: float) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            out = model(views[0], views[1], local_weight)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        model.update_teacher(0.99)

    return step


VARIANTS = {"lodisc": 1.0, "moco": 0.0}  # local weight: LoDisc, and exactly MoCo v3


def interleaved_times(
    step: Callable[[float], None], args: argparse.Namespace, device: torch.device
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and process-CPU milliseconds of each variant's steps, interleaved after warm-up."""
    for _ in range(args.warmup):
        for weight in VARIANTS.values():
            timed(lambda w=weight: step(w), device)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}  # process CPU time
    for i in range(args.steps):
        # Alternate which variant goes first (ABBA...), so neither always follows the other.
        order = list(VARIANTS.items()) if i % 2 == 0 else list(reversed(VARIANTS.items()))
        for name, weight in order:
            start_cpu = time.process_time()
            times[name].append(timed(lambda w=weight: step(w), device))
            cpu[name].append((time.process_time() - start_cpu) * 1e3)

    return times, cpu


def comparison(
    times: dict[str, list[float]],
    cpu: dict[str, list[float]],
    args: argparse.Namespace,
    device: torch.device,
) -> tuple[list[str], dict[str, float]]:
    """The table's lines (per variant, noise checks, the verdict) and the summary's figures."""
    lodisc_ms, moco_ms = median_ms(times["lodisc"]), median_ms(times["moco"])
    ratio = round(lodisc_ms / moco_ms, 4)
    goal = GOALS[args.local_mode]
    lines = [
        "| variant | median ms | min ms | max ms | images/s | median CPU ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in VARIANTS:
        med = statistics.median(times[name])
        lines.append(
            f"| {name} | {med:.1f} | {min(times[name]):.1f} | {max(times[name]):.1f} | "
            f"{2 * args.batch_size / med * 1e3:.1f} | {statistics.median(cpu[name]):.1f} |"
        )
    paired = statistics.median(a / b for a, b in zip(times["lodisc"], times["moco"], strict=True))
    best = min(times["lodisc"]) / min(times["moco"])
    cpu_ratio = statistics.median(cpu["lodisc"]) / statistics.median(cpu["moco"])
    lines.append("")
    lines.append(
        f"Noise checks: median of per-pair wall ratios {paired:.3f}, ratio of minima {best:.3f}, "
        f"ratio of median process CPU times {cpu_ratio:.3f} (CPU time leaves out the time other "
        "tenants of the shared cores hold them; meaningful on CPU runs only)."
    )
    verdict = "met" if ratio <= goal else "MISSED"
    lines.append(
        f"LoDisc / MoCo v3 = **{ratio:.3f}** ({args.local_mode}; goal <= {goal}: {verdict}); "
        f"{args.arch} at {args.img_size} px, patch {args.patch_size}, batch {args.batch_size}, "
        f"{args.steps} interleaved steps each after {args.warmup} warm-up, device {device} "
        f"({torch.get_num_threads()} CPU threads)."
    )
    if device.type == "cpu" and (ratio < 1.0 or abs(ratio - cpu_ratio) > 0.1):
        lines.append(
            "Warning: the wall-time ratio is noise-dominated here (below 1, or more than 0.1 "
            f"from the CPU-time ratio {cpu_ratio:.3f}); rerun, or trust the CPU-time ratio."
        )
    figures = {"lodisc_ms": lodisc_ms, "moco_ms": moco_ms, "ratio": ratio}
    return lines, figures | {
        "paired_ratio": round(paired, 4),
        "cpu_time_ratio": round(cpu_ratio, 4),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure, print a table, and print the JSON summary as the last line."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    own_patch = own_patch_size(args.arch)
    args.patch_size = own_patch if args.patch_size is None else args.patch_size
    patch_given = args.patch_size != own_patch
    device = pick_device(args.device)
    model = build(args, device)
    optimizer = torch.optim.AdamW(model.student.parameters(), lr=1e-4, weight_decay=0.05)
    shape = (args.batch_size, 3, args.img_size, args.img_size)
    views = (torch.randn(shape, device=device), torch.randn(shape, device=device))
    step = make_step(model, optimizer, views, device)
    times, cpu = interleaved_times(step, args, device)
    lines, figures = comparison(times, cpu, args, device)
    if args.breakdown:
        parts = breakdown(model, views, device, max(3, args.steps // 2))
        lines += ["", "| part of the LoDisc step | median ms |", "|---|---:|"]
        lines += [f"| {name} | {ms:.1f} |" for name, ms in parts.items()]
    table = "\n".join(lines)
    print(table)
    if not (args.no_record or args.tiny):
        default = args.arch == "vit_tiny_patch16_224" and args.img_size == 64
        suffix = "" if default and not patch_given else f", {args.arch} {args.img_size} px"
        suffix += f", patch {args.patch_size}" if patch_given else ""
        record(f"train_step ({args.local_mode}{suffix})", table)
    summary = {
        **figures,
        "local_mode": args.local_mode,
        "arch": args.arch,
        "img_size": args.img_size,
        "patch_size": args.patch_size,
        "batch_size": args.batch_size,
        "device": str(device),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
