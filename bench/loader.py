"""Per-image cost of the pretraining loader's work on one core: decode and the two training views.

Compares, in one run and on the same images, the views as shipped (PIL's Gaussian blur, MoCo v3's
own, uint8 out) with the previous views (torchvision's tensor blur, float normalised out). One
loader worker runs one torch thread, so a GPU needs ``images/s of the GPU x two_view_ms / 1000``
workers to be fed. Images: ``--data`` (any image folder) or synthetic ones of ``--source-size`` px.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision import transforms as T

from bench.common.results import record
from lodisc.config import AugmentConfig, EncoderConfig
from lodisc.data.image_folders import list_images, load_rgb, resolve_split
from lodisc.data.synthetic import generate_dataset
from lodisc.method.views import RandomGaussianBlur, TwoViewTransform


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (defaults: the paper's 224-px views, MoCo v3's augmentations)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an image folder (default: synthetic images)")
    parser.add_argument("--source-size", type=int, default=256, help="synthetic image size, px")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-record", action="store_true", help="print only")
    return parser.parse_args(argv)


def previous_views(aug: AugmentConfig, enc: EncoderConfig) -> TwoViewTransform:
    """The views before this change: torchvision's tensor blur, normalised float tensors out."""
    transform = TwoViewTransform(aug, enc)
    kernel = max(3, int(enc.img_size * 0.1) // 2 * 2 + 1)
    for view in (transform.view1, transform.view2):
        steps: list[Any] = []
        for step in view.transforms:
            if isinstance(step, T.RandomApply) and isinstance(
                step.transforms[0], RandomGaussianBlur
            ):
                step = T.RandomApply([T.GaussianBlur(kernel, step.transforms[0].sigma)], p=step.p)
            if isinstance(step, T.PILToTensor):
                steps += [T.ToTensor(), T.Normalize(enc.mean, enc.std)]
                continue
            steps.append(step)
        view.transforms = steps
    return transform


def images_from(args: argparse.Namespace, scratch: Path) -> list[Path]:
    """``--images`` paths from ``--data``, or from a synthetic set generated in ``scratch``."""
    root = args.data
    if root is None:
        root = generate_dataset(
            scratch / "synthetic",
            classes=4,
            per_class=args.images // 4 + 1,
            size=args.source_size,
            seed=0,
        )
    paths = list_images(resolve_split(root, "train")).paths
    if not paths:
        raise SystemExit(f"error: no images under {root}")
    return list(paths[: args.images])


def ms_per_image(work: Callable[[Image.Image | Path], object], items: Sequence[Any]) -> float:
    """Wall milliseconds per item of one pass."""
    start = time.perf_counter()
    for item in items:
        work(item)
    return (time.perf_counter() - start) * 1e3 / len(items)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    enc, aug = EncoderConfig(img_size=args.img_size), AugmentConfig()
    current, previous = TwoViewTransform(aug, enc), previous_views(aug, enc)
    with tempfile.TemporaryDirectory() as scratch:
        paths = images_from(args, Path(scratch))
        decoded = [load_rgb(path) for path in paths]
        times: dict[str, list[float]] = {"decode": [], "two_view": [], "previous_two_view": []}
        for _ in range(args.rounds):  # interleaved, so that load on the shared cores hits both
            times["decode"].append(ms_per_image(load_rgb, paths))
            times["two_view"].append(ms_per_image(current, decoded))
            times["previous_two_view"].append(ms_per_image(previous, decoded))
    med = {name: statistics.median(values) for name, values in times.items()}
    size = f"{decoded[0].width}x{decoded[0].height}"
    result = {
        "decode_ms": round(med["decode"], 2),
        "two_view_ms": round(med["two_view"], 2),
        "previous_two_view_ms": round(med["previous_two_view"], 2),
        "speedup": round(med["previous_two_view"] / med["two_view"], 2),
        "images_per_s_per_worker": round(1e3 / (med["decode"] + med["two_view"]), 1),
    }
    body = "\n".join(
        [
            "| per image, one core | median ms |",
            "|---|---:|",
            f"| decode ({len(paths)} images, first {size}) | {result['decode_ms']:.2f} |",
            f"| two views, shipped (PIL blur, uint8) | {result['two_view_ms']:.2f} |",
            f"| two views, previous (torchvision blur, float) | {result['previous_two_view_ms']:.2f} |",
            "",
            f"Views {result['speedup']:.2f}x faster; one loader worker delivers about "
            f"{result['images_per_s_per_worker']:.0f} images/s at {args.img_size} px "
            f"(MoCo v3 augmentations, median of {args.rounds} interleaved rounds).",
        ]
    )
    print(body)
    if not args.no_record:
        record("loader", body)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
