"""Drawing one synthetic fine-grained sample: the class combinations, the posed object, its mask.

A class is the shape (disc, 3:1 bar, triangle, of equal area) in each of the egg-shaped body's
four part slots; ``render_sample`` draws one image of it with random pose, colours, clutter,
lighting and noise, and its part mask (0 background, 1 body, 2 + s slot s).
"""

from __future__ import annotations

import colorsys
import itertools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("disc", "bar", "tri")
SLOTS = ("head", "tail", "top", "bottom")
Rng = np.random.Generator
# Canonical frame in body lengths, x: tail -> head, y: down. Body: half-axes and taper (the head
# half is wider, so the pose stays unambiguous under any rotation). Slots: x, y, normal / (pi/2).
_BODY = (0.5, 0.27, 0.25)
_SLOT_FRAMES = ((0.45, 0.0, 0), (-0.45, 0.0, 2), (0.0, -0.23, -1), (0.0, 0.23, 1))
# Slot orders of the mirror images: identity, swap head/tail, swap top/bottom, both.
_MIRRORS = ([0, 1, 2, 3], [1, 0, 2, 3], [0, 1, 3, 2], [1, 0, 3, 2])
_LUMA = np.array([0.299, 0.587, 0.114]) / 255.0


@dataclass(frozen=True)
class GeneratorParams:
    """Part size and nuisance ranges of one difficulty (defaults: ``easy``; ranges uniform)."""

    part_radius: float = 0.2  # radius of the disc of equal area, in body lengths
    body_length: float = 0.5  # at scale 1, in image widths
    max_rotation: float = 10.0  # degrees
    scale_range: tuple[float, float] = (0.9, 1.05)
    clutter_range: tuple[int, int] = (0, 0)  # items per image, inclusive
    part_like_clutter: float = 0.0  # share of the clutter drawn from the part vocabulary
    clutter_contrast: float = 0.12  # clutter colour: background + this * (random - background)
    lighting_slope: tuple[float, float] = (0.0, 0.05)  # brightness change per half image
    gain_range: tuple[float, float] = (0.96, 1.03)
    tint: float = 0.0  # per-channel jitter of the light colour
    noise_sigma: tuple[float, float] = (0.0, 1.0)  # Gaussian noise, 0..255 units
    fixed_part_colour: bool = True  # parts black or white (by body brightness), else random
    min_contrast: float = 0.25  # least luma gap body/background (body/parts: + 0.1)
    supersample: int = 4  # rasterise this much larger, then box-filter down
    hue_spread: float = 0.04  # body hue range around BASE_HUE as a share of the colour circle
    grey_background: bool = True  # plain light-grey background (else a random colour)
    position_jitter: float = 0.3  # share of the free room the object's centre may use (0: centred)


# fmt: off
PARAMS = {"easy": GeneratorParams(), "hard": GeneratorParams(
    part_radius=0.09, body_length=0.55, max_rotation=180.0, scale_range=(0.7, 1.2),
    clutter_range=(10, 18), part_like_clutter=0.7, clutter_contrast=1.0, tint=0.1,
    lighting_slope=(0.2, 0.45), gain_range=(0.75, 1.2), noise_sigma=(2.0, 6.0),
    fixed_part_colour=False, min_contrast=0.15, hue_spread=1.0, grey_background=False,
    position_jitter=1.0,
)}
BASE_HUE = 0.58  # easy bodies are shades of blue: self-supervision must not separate by colour
# fmt: on


def choose_combinations(count: int, seed: int) -> list[tuple[int, ...]]:
    """Distinct combinations (shape per slot), greedy: every slot varies, many differ in 1-2.

    Mirror images are one class seen flipped: a horizontal flip (a training augmentation) swaps
    head and tail, a vertical one top and bottom. So only one combination of each mirror family is
    eligible, and distances are taken to the nearest mirror image.
    """
    pool = np.array(
        [
            c
            for c in itertools.product(range(len(SHAPES)), repeat=4)
            if c[0] <= c[1] and c[2] <= c[3]
        ]
    )
    if not 1 <= count <= len(pool):
        raise ValueError(f"classes must be in 1..{len(pool)}, got {count}")
    pool = pool[np.random.default_rng([seed, 0x5EC1A55]).permutation(len(pool))]
    chosen = [0]
    while len(chosen) < count:
        picked = pool[chosen][None]
        dist = np.min(
            [(pool[:, None, perm] != picked).sum(-1) for perm in _MIRRORS], axis=0
        )  # (pool, chosen)
        constant = (picked[0] == picked[0, :1]).all(0)  # (4,) slots with one shape so far
        varies = ((pool != picked[0, 0]) & constant).any(1)
        score = 10 * varies + 2 * (dist == 1).sum(1) + (dist == 2).sum(1)
        score[chosen] = -1
        chosen.append(int(np.argmax(score)))  # ties: the first in the seeded permutation
    return sorted(tuple(int(v) for v in pool[i]) for i in chosen)


def class_name(index: int, combination: tuple[int, ...]) -> str:
    """Folder name, e.g. ``c00_disc-bar-tri-disc``; sorting the names sorts by index."""
    return f"c{index:02d}_" + "-".join(SHAPES[s] for s in combination)


def _outline(shape: int, points: int = 48) -> np.ndarray:
    """(N, 2) outline of area pi (disc of radius 1); local +x is the slot's outward normal."""
    if SHAPES[shape] == "bar":  # 3:1, the long side along the body outline
        w, h = math.sqrt(math.pi / 3.0) / 2.0, math.sqrt(3.0 * math.pi) / 2.0
        return np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    t = np.linspace(0.0, 2.0 * math.pi, 3 if SHAPES[shape] == "tri" else points, endpoint=False)
    radius = math.sqrt(4.0 * math.pi / math.sqrt(3.0)) / math.sqrt(3.0) if len(t) == 3 else 1.0
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1)  # triangle: apex outward


def _rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])


def object_polygons(combo: tuple[int, ...], part_radius: float) -> list[tuple[int, np.ndarray]]:
    """(label, (N, 2) outline) of the body, then its parts, in body lengths and drawing order."""
    t = np.linspace(0.0, 2.0 * math.pi, 96, endpoint=False)
    half_x, half_y, taper = _BODY
    body = np.stack([half_x * np.cos(t), half_y * np.sin(t) * (1 + taper * np.cos(t))], 1)
    polygons = [(1, body)]
    for slot, shape in enumerate(combo):
        x, y, normal = _SLOT_FRAMES[slot]
        outline = _outline(shape) * part_radius @ _rotation(normal * math.pi / 2)
        polygons.append((2 + slot, outline + np.array([x, y])))
    return polygons


def _colours(rng: Rng, params: GeneratorParams) -> list[tuple[int, ...]]:
    """Body (random hue), part (contrasting, never class-dependent) and background colours."""
    hsv = rng.uniform((0.0, 0.35, 0.35), (1.0, 0.9, 0.9))
    if params.hue_spread < 1.0:  # milder colour nuisance: a narrow band of hues and tones
        hsv = np.array(
            [
                (BASE_HUE + (hsv[0] - 0.5) * params.hue_spread) % 1.0,
                0.45 + 0.4 * (hsv[1] - 0.35),
                0.5 + 0.4 * (hsv[2] - 0.35),
            ]
        )
    body = np.rint(255 * np.array(colorsys.hsv_to_rgb(*hsv)))
    pool = rng.integers(0, 256, (2, 64, 3))  # seeded rejection sampling: the first that passes
    passes = np.abs((pool - body) @ _LUMA) >= params.min_contrast + np.array([[0.1], [0.0]])
    picks = [
        p[np.argmax(ok)] if ok.any() else np.full(3, 0 if body @ _LUMA > 0.5 else 255)
        for p, ok in zip(pool, passes, strict=True)
    ]
    if params.fixed_part_colour:
        picks[0] = np.full(3, 25 if body @ _LUMA > 0.45 else 235)
    if params.grey_background:  # dark parts read against both the grey and the blue body
        picks[0], picks[1] = np.full(3, 20), np.full(3, 205 + int(20 * hsv[1]))
    return [tuple(int(v) for v in c) for c in (body, *picks)]


def _draw_clutter(image: Image.Image, rng: Rng, params: GeneratorParams, part_px: float) -> None:
    """Distractors on a plain background: part-like shapes of part size, large blobs, lines."""
    draw, size, background = ImageDraw.Draw(image), image.width, np.array(image.getpixel((0, 0)))
    for _ in range(int(rng.integers(params.clutter_range[0], params.clutter_range[1] + 1))):
        centre, angle, kind = rng.uniform(0, size, 2), rng.uniform(0, 2 * math.pi), rng.uniform()
        mixed = background + params.clutter_contrast * (rng.integers(0, 256, 3) - background)
        colour = tuple(int(v) for v in np.rint(mixed))
        if kind < params.part_like_clutter:
            pts = _outline(int(rng.integers(len(SHAPES)))) * part_px * rng.uniform(0.7, 1.3)
        elif kind < (1 + params.part_like_clutter) / 2:
            pts = _outline(0, 64) * [1.0, rng.uniform(0.5, 0.8)] * size * rng.uniform(0.12, 0.3)
        else:
            end = centre + _rotation(angle)[0] * size * rng.uniform(0.2, 0.6)
            width = int(round(params.supersample * rng.uniform(0.6, 1.6)))
            draw.line([tuple(centre.tolist()), tuple(end.tolist())], fill=colour, width=width)
            continue
        draw.polygon([tuple(p) for p in (pts @ _rotation(angle) + centre).tolist()], fill=colour)


def render_sample(
    combo: tuple[int, ...], params: GeneratorParams, size: int, rng: Rng
) -> tuple[np.ndarray, np.ndarray]:
    """Image (size, size, 3) and part mask (size, size), uint8: drawn large, filtered, then lit."""
    canvas = size * params.supersample  # draw large: background, clutter, then the posed object
    body, part, background = _colours(rng, params)
    length = params.body_length * canvas * rng.uniform(*params.scale_range)
    pose = _rotation(math.radians(rng.uniform(-1, 1) * params.max_rotation)) * length
    polygons = [(v, pts @ pose) for v, pts in object_polygons(combo, params.part_radius)]
    every = np.concatenate([pts for _, pts in polygons])
    lo, hi = 0.02 * canvas - every.min(0), 0.98 * canvas - every.max(0)
    jitter = params.position_jitter * (rng.uniform(size=2) - 0.5)
    offset = np.where(hi > lo, (lo + hi) / 2 + jitter * (hi - lo), (lo + hi) / 2)
    image, labels = Image.new("RGB", (canvas,) * 2, background), Image.new("L", (canvas,) * 2, 0)
    _draw_clutter(image, rng, params, params.part_radius * length)  # onto the plain background
    draw, draw_labels = ImageDraw.Draw(image), ImageDraw.Draw(labels)
    for label, pts in polygons:
        xy = [tuple(p) for p in (pts + offset).tolist()]
        draw.polygon(xy, fill=body if label == 1 else part)
        draw_labels.polygon(xy, fill=label)
    rgb = np.asarray(image.resize((size, size), Image.Resampling.BOX), dtype=np.float32)
    mask = np.asarray(labels.resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5  # light gradient, tint, noise
    theta, slope = rng.uniform(0, 2 * math.pi), rng.uniform(*params.lighting_slope)
    gradient = 1.0 + 2.0 * slope * (xx * math.cos(theta) + yy * math.sin(theta))
    field = np.clip(rng.uniform(*params.gain_range) * gradient, 0.2, 2.0)[..., None]
    rgb = rgb * field * (1.0 + rng.uniform(-params.tint, params.tint, 3).astype(np.float32))
    rgb += rng.normal(0.0, rng.uniform(*params.noise_sigma), rgb.shape).astype(np.float32)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), mask
