"""``training/adapt_photos.py``: your own photos in one command, with clear answers to bad folders."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from lodisc.checkpoint import load_encoder
from training import adapt_photos

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _huge_png_header(path: Path, side: int = 40_000) -> None:
    """A PNG whose header claims side x side pixels (Pillow refuses it as a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def test_an_empty_or_unreadable_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "photos").mkdir()
    assert adapt_photos.main(["--data", str(tmp_path / "photos"), "--work", str(tmp_path)]) == 2
    assert "no readable images" in capsys.readouterr().err
    (tmp_path / "photos" / "a.jpg").write_bytes(b"not a jpeg")
    _huge_png_header(tmp_path / "photos" / "huge.png")
    assert adapt_photos.main(["--data", str(tmp_path / "photos"), "--work", str(tmp_path)]) == 2
    assert "2 unreadable file(s)" in capsys.readouterr().err
    assert not list(tmp_path.glob("photos-*/checkpoint.pt"))  # nothing half-written


def test_a_small_nested_folder_gets_the_pretrained_start_and_is_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (300, 200), (200, 30, 30)).save(photos / "x.jpg")
    (photos / "trip" / "day1").mkdir(parents=True)
    Image.new("RGB", (120, 260), (30, 30, 200)).save(photos / "trip" / "day1" / "y.png")
    _huge_png_header(photos / "huge.png")  # skipped and counted, not fatal
    assert adapt_photos.main(["--data", str(photos), "--work", str(tmp_path)]) == 0
    checkpoint = Path(capsys.readouterr().out.strip().splitlines()[-1])
    encoder, cfg = load_encoder(checkpoint, "cpu")
    assert cfg.hybrid and encoder.grid_size == (14, 14)
    stamp = checkpoint.stat().st_mtime_ns
    assert adapt_photos.main(["--data", str(photos), "--work", str(tmp_path)]) == 0
    assert Path(capsys.readouterr().out.strip()) == checkpoint
    assert checkpoint.stat().st_mtime_ns == stamp  # cached by content: not rebuilt
    Image.new("RGB", (64, 64)).save(photos / "new.png")
    assert adapt_photos.folder_fingerprint(photos) != checkpoint.parent.name.removeprefix("photos-")


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"1")
    first = adapt_photos.folder_fingerprint(tmp_path)
    assert adapt_photos.folder_fingerprint(tmp_path) == first
    shutil.copy(tmp_path / "a.png", tmp_path / "b.png")
    assert adapt_photos.folder_fingerprint(tmp_path) != first


def test_a_time_budget_stops_training_with_a_resumable_checkpoint(
    tiny_data: Path, tmp_path: Path
) -> None:
    from training import pretrain

    out = tmp_path / "run"
    args = [
        "--data",
        str(tiny_data),
        "--out",
        str(out),
        "--config",
        "training/configs/tiny_cpu.yaml",
    ]
    assert pretrain.main([*args, "--epochs", "50", "--max-minutes", "0.001"]) == 0
    steps = [line for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert 1 <= len(steps) < 50  # stopped early, after at least one step
    assert pretrain.main([*args, "--epochs", "50", "--max-minutes", "0.001", "--resume"]) == 0
