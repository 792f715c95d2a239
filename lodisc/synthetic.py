"""Synthetic fine-grained image folders: one object layout, classes told apart by small parts.

Every image shows the same kind of object, an egg-shaped body (blunt head, tapered tail) with four
part slots at fixed places on it: head, tail, top, bottom. A class is a combination of part shapes
in the slots, from a vocabulary of three equal-area silhouettes (disc, 3:1 bar, triangle). Pose,
scale, position, colours, background clutter, lighting and noise are drawn per image and carry no
class information, so only the parts identify the class.

Layout written by :func:`generate_dataset`::

    DIR/train/<class>/<class>_0000.png         RGB
    DIR/test/<class>/<class>_0000.png
    DIR/masks/<split>/<class>/<stem>.png       L: 0 background, 1 body, 2 + s part slot s
    DIR/meta.json
"""

from __future__ import annotations

import argparse
import colorsys
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

logger = logging.getLogger(__name__)

SHAPES = ("disc", "bar", "tri")
SLOTS = ("head", "tail", "top", "bottom")
SPLITS = ("train", "test")
DIFFICULTIES = ("easy", "hard")
FORMAT_VERSION = 1

# Body and slots in body lengths, canonical frame (x: tail -> head, y: down): centre, outward normal.
_BODY_HALF_AXES = (0.5, 0.27)
_BODY_TAPER = 0.25  # > 0: the head half is wider, so the pose is unambiguous under any rotation
_SLOT_FRAMES = (
    ((0.45, 0.0), 0.0),
    ((-0.45, 0.0), math.pi),
    ((0.0, -0.23), -math.pi / 2),
    ((0.0, 0.23), math.pi / 2),
)
_CLASS_STREAM = 0x5EC1A55


@dataclass(frozen=True)
class GeneratorParams:
    """Nuisance and part-size settings of one difficulty (ranges are uniform, inclusive)."""

    part_radius: float  # radius of the equal-area disc of a part, in body lengths
    body_length: float  # body length at scale 1, in image widths
    max_rotation: float  # degrees; the pose angle is uniform in [-max, max]
    scale_range: tuple[float, float]
    clutter_range: tuple[int, int]  # clutter items per image
    part_like_clutter: float  # share of clutter items drawn from the part vocabulary
    clutter_contrast: float  # colour offset of non-part clutter from the background (1: any)
    lighting_slope: tuple[float, float]  # brightness-gradient amplitude across half the image
    gain_range: tuple[float, float]
    tint: float  # per-channel gain jitter of the light colour
    noise_sigma: tuple[float, float]  # Gaussian pixel noise, in 0..255 units
    fixed_part_colour: bool  # parts black or white (by body brightness) instead of random
    min_contrast: float  # least luma difference body/background and body/parts
    supersample: int = 4  # rasterise at this factor, then box-filter down


PARAMS: dict[str, GeneratorParams] = {
    "easy": GeneratorParams(
        part_radius=0.17,
        body_length=0.5,
        max_rotation=20.0,
        scale_range=(0.85, 1.1),
        clutter_range=(0, 3),
        part_like_clutter=0.0,
        clutter_contrast=0.12,
        lighting_slope=(0.0, 0.12),
        gain_range=(0.92, 1.05),
        tint=0.0,
        noise_sigma=(0.0, 2.0),
        fixed_part_colour=True,
        min_contrast=0.25,
    ),
    "hard": GeneratorParams(
        part_radius=0.09,
        body_length=0.55,
        max_rotation=180.0,
        scale_range=(0.7, 1.2),
        clutter_range=(10, 18),
        part_like_clutter=0.7,
        clutter_contrast=1.0,
        lighting_slope=(0.2, 0.45),
        gain_range=(0.75, 1.2),
        tint=0.1,
        noise_sigma=(2.0, 6.0),
        fixed_part_colour=False,
        min_contrast=0.15,
    ),
}


class DatasetExistsError(FileExistsError):
    """The output folder exists and is not empty, and overwriting was not asked for."""


def choose_combinations(count: int, seed: int) -> list[tuple[int, ...]]:
    """Distinct part combinations (shape index per slot), clustered so many differ in 1-2 slots.

    Greedy: each pick varies a slot that is still constant if it can (so every slot matters once
    there are 5 classes), then has the most chosen classes at distance 1 (twice weighted) or 2.
    Combinations that differ only by swapping top and bottom are mirror images (a horizontal flip
    plus a rotation), so at most one of each such pair is eligible: flips preserve the class.
    """
    pool = np.array([c for c in itertools.product(range(len(SHAPES)), repeat=4) if c[2] <= c[3]])
    if not 1 <= count <= len(pool):
        raise ValueError(f"classes must be in 1..{len(pool)}, got {count}")
    pool = pool[np.random.default_rng([seed, _CLASS_STREAM]).permutation(len(pool))]
    mirrored = pool[:, [0, 1, 3, 2]]
    chosen = [0]
    while len(chosen) < count:
        picked = pool[chosen]
        dist = np.minimum(
            (pool[:, None] != picked[None]).sum(-1), (mirrored[:, None] != picked[None]).sum(-1)
        )
        constant = (picked == picked[:1]).all(0)  # (4,) slots with one shape so far
        varies = ((pool != picked[0]) & constant).any(1)
        score = 10 * varies + 2 * (dist == 1).sum(1) + (dist == 2).sum(1)
        score[chosen] = -1
        chosen.append(int(np.argmax(score)))  # ties: the first in the seeded permutation
    return sorted(tuple(int(v) for v in pool[i]) for i in chosen)


def class_name(index: int, combination: tuple[int, ...]) -> str:
    """Folder name, e.g. ``c00_disc-bar-tri-disc``; sorting the names sorts by index."""
    return f"c{index:02d}_" + "-".join(SHAPES[s] for s in combination)


def _shape_outline(shape: int) -> np.ndarray:
    """(N, 2) outline of a unit-area-radius shape; local +x is the slot's outward normal."""
    if SHAPES[shape] == "disc":
        t = np.linspace(0.0, 2.0 * math.pi, 48, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    if SHAPES[shape] == "bar":  # 3:1, long side along the body outline, area pi
        half_w, half_l = math.sqrt(math.pi / 3.0) / 2.0, math.sqrt(3.0 * math.pi) / 2.0
        return np.array(
            [[-half_w, -half_l], [half_w, -half_l], [half_w, half_l], [-half_w, half_l]]
        )
    side = math.sqrt(4.0 * math.pi / math.sqrt(3.0))  # equilateral, area pi, apex outward
    t = np.array([0.0, 2.0 * math.pi / 3.0, 4.0 * math.pi / 3.0])
    return side / math.sqrt(3.0) * np.stack([np.cos(t), np.sin(t)], axis=1)


def object_polygons(
    combination: tuple[int, ...], part_radius: float
) -> list[tuple[int, np.ndarray]]:
    """(label, (N, 2) outline) of the body and its parts in body lengths, drawing order."""
    t = np.linspace(0.0, 2.0 * math.pi, 96, endpoint=False)
    half_x, half_y = _BODY_HALF_AXES
    body = np.stack([half_x * np.cos(t), half_y * np.sin(t) * (1 + _BODY_TAPER * np.cos(t))], 1)
    polygons = [(1, body)]
    for slot, shape in enumerate(combination):
        (cx, cy), normal = _SLOT_FRAMES[slot]
        c, s = math.cos(normal), math.sin(normal)
        local = _shape_outline(shape) * part_radius
        polygons.append((2 + slot, local @ np.array([[c, s], [-s, c]]) + np.array([cx, cy])))
    return polygons


def _luma(rgb: tuple[int, ...]) -> float:
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255.0


def _hsv(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> tuple:
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*sat), rng.uniform(*val))
    return tuple(int(round(255 * v)) for v in rgb)


def _contrasting(rng: np.random.Generator, ref: tuple[int, ...], gap: float) -> tuple:
    """A random colour whose luma differs from ``ref`` by at least ``gap`` (seeded rejection)."""
    for _ in range(64):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if abs(_luma(colour) - _luma(ref)) >= gap:
            return colour
    return (0, 0, 0) if _luma(ref) > 0.5 else (255, 255, 255)


def _colours(rng: np.random.Generator, params: GeneratorParams) -> tuple[tuple, tuple, tuple]:
    """Body (random hue), part (contrasting, never class-dependent) and background colours."""
    body = _hsv(rng, (0.35, 0.9), (0.35, 0.9))
    if params.fixed_part_colour:
        part = (25, 25, 25) if _luma(body) > 0.45 else (235, 235, 235)
    else:
        part = _contrasting(rng, body, params.min_contrast + 0.1)
    return body, part, _contrasting(rng, body, params.min_contrast)


def _place(
    polygons: list[tuple[int, np.ndarray]],
    length: float,
    angle: float,
    canvas: int,
    rng: np.random.Generator,
) -> list[tuple[int, list[tuple[float, float]]]]:
    """Rotate and scale the canonical outlines, then move them to a random spot inside the canvas."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]]) * length
    moved = [(label, pts @ rot) for label, pts in polygons]
    every = np.concatenate([pts for _, pts in moved])
    low, high = every.min(0), every.max(0)
    margin = 0.02 * canvas
    lo, hi = margin - low, canvas - margin - high
    offset = np.where(hi > lo, lo + rng.uniform(size=2) * np.maximum(hi - lo, 0), (lo + hi) / 2)
    return [(label, [tuple(p) for p in (pts + offset).tolist()]) for label, pts in moved]


def _draw_clutter(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    params: GeneratorParams,
    canvas: int,
    part_px: float,
    background: tuple,
) -> None:
    """Background distractors: part-vocabulary shapes of part size, blobs and lines."""
    for _ in range(int(rng.integers(params.clutter_range[0], params.clutter_range[1] + 1))):
        centre = rng.uniform(0, canvas, 2)
        angle = rng.uniform(0, 2 * math.pi)
        c, s = math.cos(angle), math.sin(angle)
        rot = np.array([[c, s], [-s, c]])
        offset = rng.uniform(-params.clutter_contrast, params.clutter_contrast, 3) * 255
        colour = tuple(int(v) for v in np.clip(np.array(background) + offset, 0, 255))
        kind = rng.uniform()
        if kind < params.part_like_clutter:
            pts = _shape_outline(int(rng.integers(len(SHAPES)))) * part_px * rng.uniform(0.7, 1.3)
            draw.polygon([tuple(p) for p in (pts @ rot + centre).tolist()], fill=colour)
        elif kind < params.part_like_clutter + (1 - params.part_like_clutter) / 2:
            t = np.linspace(0.0, 2.0 * math.pi, 64, endpoint=False)
            radius = canvas * rng.uniform(0.12, 0.3)
            pts = np.stack([np.cos(t), rng.uniform(0.5, 0.8) * np.sin(t)], 1) * radius
            draw.polygon([tuple(p) for p in (pts @ rot + centre).tolist()], fill=colour)
        else:
            end = centre + np.array([c, s]) * canvas * rng.uniform(0.2, 0.6)
            width = int(round(params.supersample * rng.uniform(0.6, 1.6)))
            draw.line([tuple(centre.tolist()), tuple(end.tolist())], fill=colour, width=width)


def _light_and_noise(
    rgb: np.ndarray, rng: np.random.Generator, params: GeneratorParams
) -> np.ndarray:
    """Multiply by a smooth brightness gradient (with a colour tint), add noise, quantise."""
    size = rgb.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(1, size - 1) - 0.5
    theta = rng.uniform(0, 2 * math.pi)
    slope = rng.uniform(*params.lighting_slope)
    field = rng.uniform(*params.gain_range) * (
        1.0 + 2.0 * slope * (xx * math.cos(theta) + yy * math.sin(theta))
    )
    tint = 1.0 + rng.uniform(-params.tint, params.tint, 3).astype(np.float32)
    out = rgb * np.clip(field, 0.2, 2.0)[..., None] * tint
    sigma = rng.uniform(*params.noise_sigma)
    if sigma > 0:
        out += rng.normal(0.0, sigma, out.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_sample(
    combination: tuple[int, ...], params: GeneratorParams, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One image and its part mask.

    The scene is rasterised at ``supersample`` times the size: background, clutter, then the
    posed object (body, parts on top); the colour image is box-filtered down and the label image
    point-sampled (nearest), so the mask follows the pixels exactly.

    Returns:
        (size, size, 3) uint8 RGB image and (size, size) uint8 mask (0 bg, 1 body, 2+s part s).
    """
    canvas = size * params.supersample
    body, part, background = _colours(rng, params)
    length = params.body_length * canvas * rng.uniform(*params.scale_range)
    angle = math.radians(rng.uniform(-params.max_rotation, params.max_rotation))
    placed = _place(object_polygons(combination, params.part_radius), length, angle, canvas, rng)
    image = Image.new("RGB", (canvas, canvas), background)
    labels = Image.new("L", (canvas, canvas), 0)
    draw, draw_labels = ImageDraw.Draw(image), ImageDraw.Draw(labels)
    _draw_clutter(draw, rng, params, canvas, params.part_radius * length, background)
    for label, pts in placed:
        draw.polygon(pts, fill=body if label == 1 else part)
        draw_labels.polygon(pts, fill=label)
    small = image.resize((size, size), Image.Resampling.BOX)
    mask = np.asarray(labels.resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)
    return _light_and_noise(np.asarray(small, dtype=np.float32), rng, params), mask


def mask_path_for(image_path: str | Path) -> Path:
    """``DIR/<split>/<class>/<stem>.png`` -> ``DIR/masks/<split>/<class>/<stem>.png``."""
    image_path = Path(image_path)
    if len(image_path.parts) < 3:
        raise ValueError(f"expected DIR/<split>/<class>/<image>, got {image_path}")
    class_dir = image_path.parent
    split_dir = class_dir.parent
    return split_dir.parent / "masks" / split_dir.name / class_dir.name / f"{image_path.stem}.png"


def load_part_mask(image_path: str | Path) -> np.ndarray:
    """The (H, W) uint8 part mask of a generated image (0 bg, 1 body, 2 + s part slot s)."""
    path = mask_path_for(image_path)
    if not path.is_file():
        raise FileNotFoundError(f"no part mask for {image_path} (expected {path})")
    with Image.open(path) as mask:
        return np.array(mask.convert("L"), dtype=np.uint8)


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        if not out.is_dir():
            raise DatasetExistsError(f"{out} exists and is not a folder (use --overwrite)")
        if any(out.iterdir()):
            raise DatasetExistsError(f"{out} exists and is not empty (use --overwrite to replace)")


def _commit(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished temporary folder to ``out``, replacing an old one only if allowed."""
    _check_target(out, overwrite)
    if not out.exists():
        os.rename(tmp, out)
        return
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
        os.rename(tmp, out)
        return
    trash = out.with_name(f"{out.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out, trash)
    os.rename(tmp, out)
    if trash.is_dir():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)


def _meta(
    difficulty: str, size: int, seed: int, counts: dict[str, int], combos: list[tuple[int, ...]]
) -> dict:
    classes = [
        {
            "index": i,
            "name": class_name(i, c),
            "combination": list(c),
            "parts": {slot: SHAPES[s] for slot, s in zip(SLOTS, c, strict=True)},
        }
        for i, c in enumerate(combos)
    ]
    masks = {"0": "background", "1": "body"} | {
        str(2 + s): f"part:{n}" for s, n in enumerate(SLOTS)
    }
    return {
        "generator": __name__,
        "format_version": FORMAT_VERSION,
        "difficulty": difficulty,
        "size": size,
        "seed": seed,
        "per_class": counts,
        "shapes": list(SHAPES),
        "slots": list(SLOTS),
        "mask_values": masks,
        "classes": classes,
        "params": asdict(PARAMS[difficulty]),
    }


def _validate(
    classes: int, per_class: int, size: int, seed: int, difficulty: str, test: int
) -> None:
    if difficulty not in PARAMS:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    if per_class < 1 or test < 0:
        raise ValueError(f"need per_class >= 1 and test_per_class >= 0, got {per_class}, {test}")
    if size < 32:
        raise ValueError(f"size must be at least 32 px, got {size}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if difficulty == "hard" and size < 96:
        logger.warning("hard parts are only a few pixels wide below 96 px (size %d)", size)
    choose_combinations(classes, seed)  # raises on an impossible class count


def _write_sample(
    tmp: Path,
    job: tuple[int, int, int],
    combos: list[tuple[int, ...]],
    difficulty: str,
    size: int,
    seed: int,
) -> None:
    """Render image ``job = (split, class, index)`` with its own seeded generator; write both PNGs."""
    split, ci, ii = job
    name = class_name(ci, combos[ci])
    rng = np.random.default_rng([seed, split, ci, ii])
    rgb, mask = render_sample(combos[ci], PARAMS[difficulty], size, rng)
    for root, array in ((tmp, rgb), (tmp / "masks", mask)):
        path = root / SPLITS[split] / name / f"{name}_{ii:04d}.png"
        Image.fromarray(array).save(path, format="PNG", compress_level=1)


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
    """Write a deterministic synthetic dataset (see the module docstring) and return its folder.

    Everything is written to a temporary sibling folder that is renamed to ``out`` at the end.
    Each image uses its own generator seeded from (seed, split, class, image), so an image does
    not depend on the others, on the counts or on the thread that renders it.

    Raises:
        DatasetExistsError: ``out`` exists and is not empty, and ``overwrite`` is false.
        ValueError: an argument is out of range.
    """
    out = Path(out)
    test = max(2, per_class // 2) if test_per_class is None else test_per_class
    _validate(classes, per_class, size, seed, difficulty, test)
    _check_target(out, overwrite)
    combos, counts = choose_combinations(classes, seed), {"train": per_class, "test": test}
    jobs = [(s, c, i) for s in range(2) for c in range(classes) for i in range(counts[SPLITS[s]])]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
    try:
        for root, split, ci in itertools.product((tmp, tmp / "masks"), SPLITS, range(classes)):
            (root / split / class_name(ci, combos[ci])).mkdir(parents=True)
        work = partial(
            _write_sample, tmp, combos=combos, difficulty=difficulty, size=size, seed=seed
        )
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            done = pool.map(work, jobs)
            for _ in tqdm(
                done, total=len(jobs), desc="synthetic", unit="img", disable=not progress
            ):
                pass
        meta = _meta(difficulty, size, seed, counts, combos)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        _commit(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %d images of %d classes to %s", len(jobs), classes, out)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lodisc.synthetic", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (must be empty)")
    parser.add_argument("--classes", type=int, default=12, help="number of classes")
    parser.add_argument("--per-class", type=int, default=20, help="training images per class")
    parser.add_argument(
        "--test-per-class", type=int, default=None, help="default max(2, per-class // 2)"
    )
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", choices=DIFFICULTIES, default="easy")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exits with a message on bad arguments or a non-empty ``--out``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    try:
        out = generate_dataset(
            args.out,
            args.classes,
            args.per_class,
            args.size,
            args.seed,
            args.difficulty,
            args.test_per_class,
            args.overwrite,
            progress=True,
        )
    except (DatasetExistsError, ValueError) as err:
        raise SystemExit(f"lodisc.synthetic: error: {err}") from err
    print(f"wrote {out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
