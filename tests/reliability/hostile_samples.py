"""Hostile uploads that stay within the byte and pixel limits, built from scratch (no files).

Shared by the decode tests, the bad-input corpus and ``bench/hostile_images.py``. Each builder
makes one *class* of attack; the ones with a size or count take it as an argument so that tests
use small, fast samples and the benchmark full-size ones.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Iterator

import numpy as np
from PIL import Image

BOMB_SIDE = 6324  # 6324^2 = 40.0 MP: just inside the default max_pixels
ORIENTATION, X_RESOLUTION, EXIF_IFD, GPS_IFD = 0x0112, 0x011A, 0x8769, 0x8825


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    """An image saved to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """An RGB image of random pixels (incompressible: every scan carries data)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def header_bomb_jpeg(side: int = BOMB_SIDE) -> bytes:
    """The issue's 633-byte JPEG: a 16 x 16 image whose frame header claims ``side x side``."""
    small = encode(Image.new("RGB", (16, 16)), "JPEG")
    sof = small.index(b"\xff\xc0")
    return small[: sof + 5] + struct.pack(">HH", side, side) + small[sof + 9 :]


@functools.cache
def solid_rgba_png(side: int = BOMB_SIDE) -> bytes:
    """A valid, fully transparent ``side x side`` RGBA PNG (40 MP in about 170 KB)."""
    return encode(Image.new("RGBA", (side, side), (10, 20, 30, 0)), "PNG", compress_level=9)


def repeated_scan_jpeg(scans: int, side: int = 256) -> bytes:
    """A progressive JPEG whose last scan is repeated until it has ``scans`` scans."""
    data = encode(noise(side, side), "JPEG", progressive=True, quality=90)
    last_scan = data.rindex(b"\xff\xda")
    body, eoi = data[last_scan:-2], data[-2:]
    own_scans = data.count(b"\xff\xda")
    return data[:-2] + body * max(0, scans - own_scans) + eoi


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_chunk_flood(chunks: int, side: int = 16) -> bytes:
    """A small valid PNG with ``chunks`` empty private ancillary chunks before its pixel data."""
    png = encode(noise(side, side), "PNG")
    idat = png.index(b"IDAT") - 4
    return png[:idat] + png_chunk(b"zzZz", b"") * chunks + png[idat:]


def tiff_im_polyglot() -> tuple[bytes, int]:
    """A valid grey TIFF whose first bytes are also a Pillow IM header, and its TIFF grey level.

    Opened without a format list, Pillow reads it as IM (its opener is tried before TIFF's) and
    sees other pixels; only a decode of the TIFF it was checked as is correct.
    """
    width, height, level, ifd_at, strip_at = 64, 48, 200, 512, 1024
    im_header = b"Image size (x*y): 64*48\r\n\x1a"
    entries = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 1),  # black is zero
        (273, 4, 1, strip_at),
        (277, 3, 1, 1),
        (278, 3, 1, height),
        (279, 4, 1, width * height),
    ]
    ifd = struct.pack(">H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack(">HI", value, 0)[:4] if kind == 3 else struct.pack(">I", value)
        ifd += struct.pack(">HHI", tag, kind, count) + packed
    ifd += struct.pack(">I", 0)
    head = b"MM\x00*" + struct.pack(">I", ifd_at) + b": TIFF\r\n" + im_header
    data = head.ljust(ifd_at, b"\x00") + ifd
    return data.ljust(strip_at, b"\x00") + bytes([level]) * (width * height), level


def ifd_entries(rng: np.random.Generator, little: bool) -> bytes:
    """A random, mostly malformed IFD: odd types, counts and offsets past the end."""
    order = "<" if little else ">"
    count = int(rng.choice([0, 1, 2, 5, 40, 0xFFFF]))
    tags = [ORIENTATION, X_RESOLUTION, EXIF_IFD, GPS_IFD, 0x0100, 0x927C, 0xA005, 0x0132]
    body = b""
    if count and rng.random() < 0.6:  # a valid orientation, so that a rotation is attempted
        body = struct.pack(f"{order}HHIHH", ORIENTATION, 3, 1, int(rng.integers(2, 9)), 0)
    for _ in range(min(count, 12) - len(body) // 12):
        tag = int(rng.choice(tags)) if rng.random() < 0.8 else int(rng.integers(0, 0x10000))
        kind = int(rng.integers(0, 20))
        number = int(rng.choice([0, 1, 2, 8, 0x7FFFFFFF, 0xFFFFFFFF]))
        value = int(rng.choice([0, 1, 6, 8, 9, 0xFFFF, 0xFFFFFFF0]))
        body += struct.pack(f"{order}HHII", tag, kind, number, value)
    tail = bytes(rng.integers(0, 256, int(rng.integers(0, 16)), dtype=np.uint8))
    return struct.pack(f"{order}H", count) + body + struct.pack(f"{order}I", 8) + tail


def malformed_exif(rng: np.random.Generator) -> bytes:
    """A TIFF-structured EXIF block (without the ``Exif\\0\\0`` prefix), malformed at random."""
    little = bool(rng.random() < 0.5)
    magic = b"II*\x00" if little else b"MM\x00*"
    if rng.random() < 0.1:
        magic = bytes(rng.integers(0, 256, 4, dtype=np.uint8))
    offset = int(rng.choice([8, 8, 8, 0, 3, 0xFFFF, 0xFFFFFFFF]))
    return magic + struct.pack("<I" if little else ">I", offset) + ifd_entries(rng, little)


def malformed_xmp(rng: np.random.Generator) -> bytes:
    """An XMP packet with an odd orientation, sometimes cut short."""
    orientation = rng.choice([b"6", b"0", b"99", b"-1", b"x", b"6" * 40])
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        b'tiff:Orientation="' + orientation + b'"/></rdf:RDF></x:xmpmeta>'
    )
    return packet[: int(rng.integers(10, len(packet) + 1))]


def metadata_fuzz(count: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """``count`` small JPEG, PNG and WebP files with malformed EXIF, XMP or ICC metadata."""
    rng = np.random.default_rng(seed)
    base = noise(32, 24, seed)
    for number in range(count):
        image_format = ("JPEG", "PNG", "WEBP")[number % 3]
        choice = rng.random()
        if choice < 0.7:
            exif = malformed_exif(rng)
            options: dict[str, object] = {"exif": b"Exif\x00\x00" + exif}
            if image_format == "PNG" and rng.random() < 0.5:
                options["exif"] = exif  # PNG's eXIf chunk may omit the prefix
        elif choice < 0.85:
            options = {"xmp": malformed_xmp(rng)} if image_format != "PNG" else {}
            if image_format == "PNG":
                options["pnginfo"] = png_text("XML:com.adobe.xmp", malformed_xmp(rng))
        else:
            options = {"icc_profile": bytes(rng.integers(0, 256, 200, dtype=np.uint8))}
        yield f"{image_format.lower()} #{number}", encode(base, image_format, **options)


def png_text(key: str, value: bytes) -> object:
    """A PngInfo carrying one iTXt chunk."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt(key, value.decode("latin-1"))
    return info
