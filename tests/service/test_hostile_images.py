"""Hostile images within the byte and pixel limits: each class is refused or decoded cheaply."""

from __future__ import annotations

import io
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from service.decode_budget import REQUEST_DISCONNECTED, DecodeAbortedError, DecodeBudget, DecodeGate
from service.images import DecodePolicy, ImageInputError, decode_image, set_decode_policy
from tests.reliability.hostile_samples import (
    encode,
    header_bomb_jpeg,
    metadata_fuzz,
    noise,
    png_chunk_flood,
    repeated_scan_jpeg,
    solid_rgba_png,
    tiff_im_polyglot,
)

LIMIT = 40_000_000
SHORT_SIDE = 224
MIB = 1024 * 1024


def refused(data: bytes, short_side: int | None = SHORT_SIDE) -> ImageInputError:
    """The error decoding ``data`` raises."""
    with pytest.raises(ImageInputError) as caught:
        decode_image(data, LIMIT, short_side)
    return caught.value


@pytest.fixture
def policy() -> Iterator[DecodePolicy]:
    """A fresh process-wide decode policy, restored afterwards."""
    fresh = DecodePolicy()
    previous = set_decode_policy(fresh)
    yield fresh
    set_decode_policy(previous)


def test_header_bomb_jpeg_is_refused_as_truncated() -> None:
    data = header_bomb_jpeg()
    assert len(data) < 700
    err = refused(data)
    assert err.status == 400 and "truncated" in str(err) and "6324x6324" in str(err)


def read_status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
def test_solid_40_mp_rgba_png_decodes_reduced_in_bounded_memory() -> None:
    data = solid_rgba_png()
    assert len(data) < 200_000
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM restarts from the current VmRSS
    before = read_status_kib("VmRSS")
    image = decode_image(data, LIMIT, SHORT_SIDE)
    peak_growth = (read_status_kib("VmHWM") - before) * 1024
    assert image.mode == "RGB" and 2 * SHORT_SIDE <= min(image.size) < 4 * SHORT_SIDE
    assert image.getpixel((0, 0)) == (255, 255, 255)  # transparent: composited on white
    # The RGBA pixels themselves (160 MB) plus bands; converting whole took 625 MB.
    assert peak_growth < 240 * MIB, f"decode grew the process by {peak_growth / MIB:.0f} MiB"


def test_large_jpeg_is_decoded_at_a_reduced_scale() -> None:
    data = encode(Image.new("RGB", (3200, 2400), (90, 120, 150)), "JPEG")
    image = decode_image(data, LIMIT, SHORT_SIDE)
    assert 2 * SHORT_SIDE <= image.height < 4 * SHORT_SIDE and image.width > image.height
    assert decode_image(data, LIMIT).size == (3200, 2400)  # no model size: full decode


def test_repeated_scan_progressive_jpeg_is_refused_before_decoding() -> None:
    assert decode_image(repeated_scan_jpeg(12), LIMIT, SHORT_SIDE).size == (256, 256)
    start = time.perf_counter()
    err = refused(repeated_scan_jpeg(400))
    assert err.status == 400 and "scans" in str(err)
    assert time.perf_counter() - start < 0.5


def test_png_chunk_flood_is_refused_quickly() -> None:
    assert decode_image(png_chunk_flood(50), LIMIT).size == (16, 16)
    data = png_chunk_flood(1_000_000)  # 12 MB of empty chunks: seconds in Pillow's chunk loop
    start = time.perf_counter()
    err = refused(data)
    assert err.status == 400 and "chunks" in str(err)
    assert time.perf_counter() - start < 0.5


def test_jpeg_segment_flood_and_junk_are_refused() -> None:
    jpeg = encode(noise(16, 16), "JPEG")
    comment = b"\xff\xfe" + struct.pack(">H", 2)
    assert "segments" in str(refused(jpeg[:2] + comment * 200_000 + jpeg[2:]))
    assert "junk" in str(refused(jpeg[:2] + b"\x00" * 2_000_000 + jpeg[2:]))


def test_truncated_jpeg_without_end_is_refused() -> None:
    data = encode(noise(64, 48), "JPEG")
    assert refused(data[: len(data) * 2 // 3]).status == 400


def test_tiff_im_polyglot_is_decoded_as_the_checked_tiff() -> None:
    data, level = tiff_im_polyglot()
    with Image.open(io.BytesIO(data)) as unchecked:
        assert unchecked.format == "IM"  # what a second open without the format list decoded
    assert decode_image(data, LIMIT).getpixel((5, 5)) == (level, level, level)


def test_issue_exif_sample_and_malformed_metadata_never_fail() -> None:
    ifd = struct.pack("<H", 2) + struct.pack("<HHIHH", 274, 3, 1, 8, 0)
    ifd += struct.pack("<HHI", 0x011A, 1, 1) + b"\x08\0\0\0" + b"\0" * 4
    exif = b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd
    assert decode_image(encode(Image.new("RGB", (32, 24)), "JPEG", exif=exif), LIMIT)
    for _, data in metadata_fuzz(150, seed=1):
        assert decode_image(data, LIMIT).mode == "RGB"


def test_decode_deadline_and_disconnect_stop_decoding(policy: DecodePolicy) -> None:
    data = encode(noise(64, 48), "PNG")
    policy.timeout_s = 1e-9
    assert "took over" in str(refused(data))
    policy.timeout_s = 10.0
    gone = threading.Event()
    gone.set()
    token = REQUEST_DISCONNECTED.set(gone)
    try:
        assert "disconnected" in str(refused(data))
    finally:
        REQUEST_DISCONNECTED.reset(token)
    assert decode_image(data, LIMIT).size == (64, 48)


def test_decode_gate_admits_by_memory_and_keeps_room_for_small_decodes() -> None:
    gate = DecodeGate(100)
    with gate.hold(60, DecodeBudget(1.0)):
        with pytest.raises(DecodeAbortedError) as caught, gate.hold(20, DecodeBudget(0.05)):
            pass  # two large decodes would hold over 3/4 of the gate
        assert caught.value.status == 429
        with gate.hold(12, DecodeBudget(0.05)), gate.hold(12, DecodeBudget(0.05)):
            assert gate.in_use == 84  # small ones use the rest
    with gate.hold(10**9, DecodeBudget(1.0)):  # larger than the gate: runs alone
        assert gate.in_use == 75
    assert gate.in_use == 0
