"""Synthetic fine-grained image folders: one object layout, classes told apart by small parts.

An egg-shaped body has four part slots (head, tail, top, bottom); a class is the combination of
equal-area part shapes (disc, 3:1 bar, triangle) in them, drawn by ``synthetic_render.py``. Pose,
scale, position, colours, clutter, lighting and noise are random per image. Writes ``DIR/{train,test}/<class>/<class>_0000.png``,
``DIR/masks/<split>/<class>/<stem>.png`` (0 background, 1 body, 2 + s slot s), ``DIR/meta.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from lodisc.data.synthetic_render import (
    PARAMS,
    SHAPES,
    SLOTS,
    choose_combinations,
    class_name,
    render_sample,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
_DESCRIPTION = "Write a synthetic fine-grained image dataset with part masks."


def mask_path_for(image_path: str | Path) -> Path:
    """``DIR/<split>/<class>/<stem>.png`` -> ``DIR/masks/<split>/<class>/<stem>.png``."""
    path = Path(image_path)
    return path.parents[2] / "masks" / path.parts[-3] / path.parts[-2] / f"{path.stem}.png"


def load_part_mask(image_path: str | Path) -> np.ndarray:
    """The (H, W) uint8 part mask of a generated image (0 bg, 1 body, 2 + s part slot s)."""
    with Image.open(mask_path_for(image_path)) as mask:
        return np.array(mask.convert("L"), dtype=np.uint8)


def _write_all(
    tmp: Path, combos: list, counts: dict, difficulty: str, size: int, seed: int, progress: bool
) -> int:
    """Write every image and mask (in threads), then ``meta.json``; return the image count."""
    names = [class_name(i, c) for i, c in enumerate(combos)]
    for root, split, name in itertools.product((tmp, tmp / "masks"), SPLITS, names):
        (root / split / name).mkdir(parents=True)

    def write(job: tuple[int, int, int]) -> None:  # own generator per (seed, split, class, image)
        (split, ci, ii), rng = job, np.random.default_rng([seed, *job])
        rgb, mask = render_sample(combos[ci], PARAMS[difficulty], size, rng)
        for root, array in ((tmp, rgb), (tmp / "masks", mask)):
            path = root / SPLITS[split] / names[ci] / f"{names[ci]}_{ii:04d}.png"
            Image.fromarray(array).save(path, format="PNG", compress_level=1)

    k = len(names)
    jobs = [(s, c, i) for s, n in enumerate(counts.values()) for c in range(k) for i in range(n)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for _ in tqdm(pool.map(write, jobs), total=len(jobs), disable=None if progress else True):
            pass
    classes = [{"name": n, "parts": [SHAPES[s] for s in combos[i]]} for i, n in enumerate(names)]
    values = ["background", "body", *(f"part:{slot}" for slot in SLOTS)]
    meta = dict(difficulty=difficulty, size=size, seed=seed, per_class=counts, slots=SLOTS)
    meta.update(mask_values=values, classes=classes, params=asdict(PARAMS[difficulty]))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return len(jobs)


def generate_dataset(
    out: Path,
    classes: int,
    per_class: int,
    size: int,
    seed: int,
    difficulty: str = "easy",
    test_per_class: int | None = None,
    overwrite: bool = False,
    *,
    progress: bool = False,
) -> Path:
    """Write a deterministic dataset into a temporary sibling folder, then rename it to ``out``.

    Each image has its own generator seeded from (seed, split, class, image).

    Raises:
        FileExistsError: ``out`` exists and is not empty, and ``overwrite`` is false.
        ValueError: an argument is out of range.
    """
    out, test = Path(out), max(2, per_class // 2) if test_per_class is None else test_per_class
    if difficulty not in PARAMS or per_class < 1 or test < 0 or size < 32 or seed < 0:
        raise ValueError(
            f"need difficulty in {sorted(PARAMS)}, per_class >= 1, test_per_class >= 0, size >= 32"
            f" and seed >= 0; got {difficulty!r}, {per_class}, {test}, {size}, {seed}"
        )
    combos = choose_combinations(classes, seed)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder (use --overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a dataset folder is meant to be shared
    try:
        counts = {"train": per_class, "test": test}
        total = _write_all(tmp, combos, counts, difficulty, size, seed, progress)
        trash = out.with_name(f"{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
        if overwrite and out.exists() and (not out.is_dir() or any(out.iterdir())):
            os.rename(out, trash)  # the old folder is deleted once the new one is in place
        os.replace(tmp, out)  # onto a missing or empty folder: atomic; fails on a non-empty one
        shutil.rmtree(trash) if trash.is_dir() else trash.unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %d images of %d classes to %s", total, classes, out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line; exits with a message on bad arguments or a non-empty ``--out``."""
    parser = argparse.ArgumentParser("python -m lodisc.data.synthetic", description=_DESCRIPTION)
    parser.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    parser.add_argument("--classes", type=int, default=12)
    parser.add_argument("--per-class", type=int, default=20, help="training images per class")
    parser.add_argument("--test-per-class", type=int, help="default: max(2, per-class // 2)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", choices=sorted(PARAMS), default="easy")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        out = generate_dataset(**vars(parser.parse_args(argv)), progress=True)
    except (FileExistsError, ValueError) as err:
        raise SystemExit(f"lodisc.data.synthetic: error: {err}") from err
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
