"""Tests of the synthetic fine-grained dataset generator (layout, determinism, difficulty)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lodisc.data.synthetic import generate_dataset, load_part_mask, main, mask_path_for
from lodisc.data.synthetic_render import SLOTS, choose_combinations

NUM_SLOTS = len(SLOTS)


def _all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _load(root: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Images, masks and class labels of both splits (class index = sorted folder order)."""
    images, masks, labels = [], [], []
    for split in ("train", "test"):
        for index, folder in enumerate(sorted(p for p in (root / split).iterdir())):
            for path in sorted(folder.glob("*.png")):
                with Image.open(path) as image:
                    images.append(np.asarray(image.convert("RGB")))
                masks.append(load_part_mask(path))
                labels.append(index)
    return images, masks, np.array(labels)


def _rank1(similarity: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out Rank-1: is the most similar other item of the query's class?"""
    sim = similarity.astype(np.float64, copy=True)
    np.fill_diagonal(sim, -np.inf)
    return float((labels[sim.argmax(axis=1)] == labels).mean())


def _chance(labels: np.ndarray) -> float:
    """Expected Rank-1 of a random ranking: mean over queries of same-class others / all others."""
    same = np.bincount(labels)[labels] - 1
    return float((same / (len(labels) - 1)).mean())


def _neg_sq_dist(feats: np.ndarray) -> np.ndarray:
    sq = (feats**2).sum(axis=1)
    return -(sq[:, None] + sq[None, :] - 2.0 * feats @ feats.T)


def _histogram_similarity(images: list[np.ndarray], bins: int = 8) -> np.ndarray:
    """Cosine similarity of square-rooted joint RGB histograms (Hellinger / Bhattacharyya)."""
    stack = np.stack(images).astype(np.int64) * bins // 256  # (N, H, W, 3)
    codes = (stack[..., 0] * bins + stack[..., 1]) * bins + stack[..., 2]
    offsets = np.arange(len(images))[:, None, None] * bins**3
    hist = np.bincount((codes + offsets).ravel(), minlength=len(images) * bins**3)
    hist = np.sqrt(hist.reshape(len(images), -1) / codes[0].size)
    return hist @ hist.T


def _thumbnail_similarity(images: list[np.ndarray]) -> np.ndarray:
    """Negative squared distance of 8x8 grayscale thumbnails."""
    thumbs = [
        np.asarray(Image.fromarray(im).convert("L").resize((8, 8), Image.Resampling.BOX))
        for im in images
    ]
    return _neg_sq_dist(np.stack(thumbs).reshape(len(images), -1).astype(np.float64))


def _hu(region: np.ndarray) -> np.ndarray:
    """First four Hu moment invariants of a binary region."""
    ys, xs = np.nonzero(region)
    x, y, m00 = xs - xs.mean(), ys - ys.mean(), float(len(xs))

    def eta(p: int, q: int) -> float:
        return float((x**p * y**q).sum()) / m00 ** (1 + (p + q) / 2)

    n20, n02, n11 = eta(2, 0), eta(0, 2), eta(1, 1)
    n30, n03, n21, n12 = eta(3, 0), eta(0, 3), eta(2, 1), eta(1, 2)
    return np.array(
        [
            n20 + n02,
            (n20 - n02) ** 2 + 4 * n11**2,
            (n30 - 3 * n12) ** 2 + (3 * n21 - n03) ** 2,
            (n30 + n12) ** 2 + (n21 + n03) ** 2,
        ]
    )


def _parts_similarity(masks: list[np.ndarray]) -> np.ndarray:
    """Per slot: area / object area and Hu invariants of the slot's region; z-scored, -distance."""
    rows = []
    for mask in masks:
        area = float((mask > 0).sum())
        slots = [mask == 2 + s for s in range(NUM_SLOTS)]
        rows.append(np.concatenate([[r.sum() / area, *_hu(r)] for r in slots]))
    feats = np.stack(rows)
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-12)
    return _neg_sq_dist(feats)


def _scores(root: Path) -> dict[str, float]:
    images, masks, labels = _load(root)
    return {
        "histogram": _rank1(_histogram_similarity(images), labels),
        "thumbnail": _rank1(_thumbnail_similarity(images), labels),
        "parts": _rank1(_parts_similarity(masks), labels),
        "chance": _chance(labels),
    }


@pytest.fixture(scope="module")
def hard_scores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    root = tmp_path_factory.mktemp("hard") / "data"
    # 12 classes x 30 images at 96 px: chance 0.081. Over seeds 0-29 both global descriptors
    # averaged chance (deviation mean <= 0.002, sd 0.015, max 0.044): 0.05 is a ~3 sigma bound.
    generate_dataset(root, 12, per_class=20, size=96, seed=0, difficulty="hard", test_per_class=10)
    return _scores(root)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    args = {"classes": 3, "per_class": 2, "size": 48, "test_per_class": 1}
    first = _all_files(generate_dataset(tmp_path / "a", seed=5, **args))
    second = _all_files(generate_dataset(tmp_path / "b", seed=5, **args))
    other = _all_files(generate_dataset(tmp_path / "c", seed=6, **args))
    assert first == second
    assert len(first) == 3 * 3 * 2 + 1  # images, masks, meta.json
    images = {v for k, v in first.items() if not k.startswith("masks") and k.endswith(".png")}
    assert len(images) == 9 and not images & set(other.values())


def test_layout_masks_and_meta(tmp_path: Path) -> None:
    root = generate_dataset(tmp_path / "d", classes=4, per_class=3, size=64, seed=1)
    meta = json.loads((root / "meta.json").read_text())
    names = sorted(p.name for p in (root / "train").iterdir())
    assert names == [c["name"] for c in meta["classes"]] and len(names) == 4
    assert names[0].startswith("c00_") and all(
        len(c["parts"]) == NUM_SLOTS for c in meta["classes"]
    )
    assert len({tuple(c["parts"]) for c in meta["classes"]}) == 4
    assert (meta["difficulty"], meta["size"], meta["seed"]) == ("easy", 64, 1)
    assert meta["per_class"] == {"train": 3, "test": 2}  # default test count max(2, 3 // 2)
    assert not list(tmp_path.glob("*.tmp-*"))
    for split, count in (("train", 3), ("test", 2)):
        for name in names:
            files = sorted((root / split / name).iterdir())
            assert [p.name for p in files] == [f"{name}_{i:04d}.png" for i in range(count)]
            for path in files:
                with Image.open(path) as image:
                    assert (image.mode, image.size) == ("RGB", (64, 64))
                mask_file = mask_path_for(path)
                assert mask_file == root / "masks" / split / name / path.name
                with Image.open(mask_file) as mask_image:
                    assert (mask_image.mode, mask_image.size) == ("L", (64, 64))
                mask = load_part_mask(path)
                assert mask.dtype == np.uint8 and mask.shape == (64, 64)
                assert set(np.unique(mask)) == set(range(NUM_SLOTS + 2))  # bg, body, every slot


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_class_is_a_mirror_image_of_another(seed: int) -> None:
    """A horizontal flip (a training augmentation) swaps head and tail, a vertical one top and
    bottom: classes related so would be merged by flip-invariant features."""
    combos = choose_combinations(36, seed)  # every eligible combination
    assert len(set(combos)) == 36
    families = set()
    for head, tail, top, bottom in combos:
        family = frozenset(
            {
                (head, tail, top, bottom),
                (tail, head, top, bottom),
                (head, tail, bottom, top),
                (tail, head, bottom, top),
            }
        )
        assert family not in families, (head, tail, top, bottom)
        families.add(family)
    with pytest.raises(ValueError):
        choose_combinations(37, seed)


def test_hard_global_descriptors_near_chance_parts_identify(hard_scores: dict[str, float]) -> None:
    chance = hard_scores["chance"]
    assert abs(hard_scores["histogram"] - chance) <= 0.05, hard_scores
    assert abs(hard_scores["thumbnail"] - chance) <= 0.05, hard_scores
    assert hard_scores["parts"] >= 0.8, hard_scores


def test_easy_parts_identify_class(tmp_path: Path) -> None:
    root = generate_dataset(tmp_path / "e", classes=8, per_class=12, size=64, seed=2)
    scores = _scores(root)
    assert scores["parts"] >= 0.9, scores


def test_cli_writes_and_refuses_non_empty(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    argv = ["--out", str(out), "--classes", "2", "--per-class", "2", "--size", "40", "--seed", "4"]
    assert main(argv) == 0
    assert len(list((out / "train").rglob("*.png"))) == 4
    assert len(list((out / "test").rglob("*.png"))) == 4
    before = _all_files(out)
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code not in (0, None) and "--overwrite" in str(excinfo.value.code)
    assert _all_files(out) == before
    with pytest.raises(FileExistsError):
        generate_dataset(out, classes=2, per_class=2, size=40, seed=4)
    assert main([*argv, "--difficulty", "hard", "--overwrite"]) == 0
    assert json.loads((out / "meta.json").read_text())["difficulty"] == "hard"
    assert not list(tmp_path.glob("cli.*"))
    (tmp_path / "empty").mkdir()  # an existing empty folder is fine without --overwrite
    assert main(["--out", str(tmp_path / "empty"), "--classes", "1", "--per-class", "1"]) == 0
