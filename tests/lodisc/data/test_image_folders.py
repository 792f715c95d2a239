import io
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lodisc.data.image_folders import (
    DataError,
    ImageFolderDataset,
    list_images,
    load_rgb,
    resolve_split,
)


def _save(path: Path, image: Image.Image, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def test_list_images_skips_and_counts_unreadable_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _save(tmp_path / "a" / "1.png", Image.new("RGB", (8, 8), "red"))
    _save(tmp_path / "b" / "2.jpg", Image.new("RGB", (8, 8), "blue"))
    (tmp_path / "b" / "3.jpg").write_bytes(b"not an image")
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "green").save(good, format="PNG")
    (tmp_path / "b" / "4.png").write_bytes(good.getvalue()[:40])  # truncated
    (tmp_path / "b" / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING):
        images = list_images(tmp_path)
    assert images.classes == ["a", "b"] and images.labels == [0, 1]
    assert len(images.skipped) == 2 and "skipped 2 unreadable" in caplog.text


def test_missing_and_empty_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        resolve_split(tmp_path / "nope", "train")
    with pytest.raises(DataError, match=r"no readable images in .* \(no image files"):
        list_images(tmp_path)
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="1 unreadable file"):
        list_images(tmp_path)


def test_a_flat_photo_folder_is_one_unlabelled_class_beside_nested_classes(tmp_path: Path) -> None:
    _save(tmp_path / "loose.png", Image.new("RGB", (4, 4)))
    _save(tmp_path / "cars" / "2024" / "deep.png", Image.new("RGB", (4, 4)))
    images = list_images(tmp_path)
    assert images.classes == ["", "cars"]
    assert [p.name for p in images.paths] == ["loose.png", "deep.png"]
    assert images.labels == [0, 1]


def test_load_rgb_handles_modes_and_exif_orientation(tmp_path: Path) -> None:
    rotated = Image.new("RGB", (20, 10), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = _save(tmp_path / "exif.jpg", rotated, exif=exif)
    assert load_rgb(path).size == (10, 20)
    sixteen = Image.fromarray(np.full((6, 6), 40000, dtype=np.uint16))
    assert load_rgb(_save(tmp_path / "16bit.png", sixteen)).getpixel((0, 0)) == (255, 255, 255)
    palette = Image.new("P", (5, 5), 3)
    assert load_rgb(_save(tmp_path / "p.gif", palette)).mode == "RGB"
    alpha = Image.new("RGBA", (5, 5), (255, 0, 0, 0))
    assert load_rgb(_save(tmp_path / "a.png", alpha)).getpixel((0, 0)) == (255, 255, 255)
    cmyk = Image.new("CMYK", (5, 5), (0, 255, 255, 0))
    assert load_rgb(_save(tmp_path / "c.jpg", cmyk)).mode == "RGB"


def test_dataset_views_are_deterministic_per_sample_and_epoch(tmp_path: Path) -> None:
    for i in range(3):
        _save(
            tmp_path / "c" / f"{i}.png",
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (16, 16, 3), dtype=np.uint8)),
        )
    import torchvision.transforms as T

    transform = T.Compose([T.RandomResizedCrop(8), T.ToTensor()])
    dataset = ImageFolderDataset(list_images(tmp_path), transform, seed=1)
    first, again = dataset[1][0], dataset[1][0]
    dataset.set_epoch(1)
    assert np.array_equal(first.numpy(), again.numpy())
    assert not np.array_equal(first.numpy(), dataset[1][0].numpy())
