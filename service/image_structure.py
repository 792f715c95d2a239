"""What an upload's bytes commit a decoder to, read from its structure before any decoding.

Pillow walks JPEG segments and PNG chunks in Python, and libjpeg makes one pass over the whole
image per progressive scan: a small file can hold enough segments, chunks or scans to cost
seconds of CPU. A file can also claim a size its data cannot fill (libjpeg pads the rest with
grey without an error). :func:`inspect_structure` counts these in C-speed scans over the bytes,
stops at the first count over its limit, and says whether the data can fill the claimed size.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

JPEG_SOI = b"\xff\xd8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers (C4 DHT, C8 JPG and CC DAC are not frames); arithmetic coding: C9-CF.
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_ARITHMETIC = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and the restart markers
JPEG_EOI, JPEG_SOS = 0xD9, 0xDA
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing), a restart marker or more 0xFF
# (fill); any other byte after it starts the next marker.
NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
COEFFICIENT_BYTES = 64 * 2  # one 8x8 block of 16-bit DCT coefficients, kept for multi-scan JPEGs
# Deflate codes at most 258 bytes in 2 bits: no zlib stream inflates more than 1032-fold.
DEFLATE_MAX_RATIO = 1032
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type


class StructureError(ValueError):
    """The bytes hold more structure (segments, scans, chunks) than the limits allow."""


@dataclass(frozen=True)
class StructureLimits:
    """Structural counts a single upload may hold."""

    max_jpeg_scans: int = 64
    max_jpeg_segments: int = 1024
    max_junk_bytes: int = 65536  # between JPEG segments, which Pillow skips one byte at a time
    max_png_chunks: int = 10_000


@dataclass(frozen=True)
class Structure:
    """What the walk found; ``fills_header`` is False when the data is too short for the size."""

    kind: str = "other"
    fills_header: bool = True
    scans: int = 0
    coefficient_bytes: int = 0  # libjpeg's whole-image coefficient buffer (multi-scan JPEGs)


def inspect_structure(data: bytes, limits: StructureLimits) -> Structure:
    """Walk a JPEG's segments or a PNG's chunks (other formats: nothing to check here).

    Raises:
        StructureError: a count over ``limits``.
    """
    if data.startswith(JPEG_SOI):
        return inspect_jpeg(data, limits)
    if data.startswith(PNG_SIGNATURE):
        return inspect_png(data, limits)
    return Structure()


def inspect_jpeg(data: bytes, limits: StructureLimits) -> Structure:
    """Segments and scans of the first JPEG in ``data`` up to its EOI, and its scan data size."""
    pos, segments, scans, junk, entropy_bytes = 2, 0, 0, 0, 0
    frame: tuple[int, int, int, list[tuple[int, int]]] | None = None
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            skip = data.find(b"\xff", pos)
            skip = len(data) if skip < 0 else skip
            junk += skip - pos
            if junk > limits.max_junk_bytes:
                raise StructureError(f"JPEG with over {limits.max_junk_bytes} bytes of junk")
            pos = skip
            continue
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in JPEG_STANDALONE or marker == 0xD8:
            pos += 2
            continue
        if marker == JPEG_EOI:
            break
        segments += 1
        if segments > limits.max_jpeg_segments:
            raise StructureError(f"JPEG with over {limits.max_jpeg_segments} segments")
        (length,) = struct.unpack_from(">H", data, pos + 2) if pos + 4 <= len(data) else (2,)
        end = pos + 2 + max(2, length)
        if marker in JPEG_FRAMES and frame is None:
            frame = parse_jpeg_frame(marker, data[pos + 4 : end])
        if marker != JPEG_SOS:
            pos = end
            continue
        scans += 1
        if scans > limits.max_jpeg_scans:
            raise StructureError(f"JPEG with over {limits.max_jpeg_scans} scans")
        found = NEXT_MARKER.search(data, end)
        pos = found.start() if found else len(data)
        entropy_bytes += pos - end
    return jpeg_structure(frame, scans, entropy_bytes)


def parse_jpeg_frame(marker: int, body: bytes) -> tuple[int, int, int, list[tuple[int, int]]]:
    """(marker, width, height, [(h, v) sampling per component]) of a start-of-frame segment."""
    if len(body) < 6:
        return marker, 0, 0, []
    height, width, count = struct.unpack_from(">HHB", body, 1)
    sampling = [
        (body[7 + 3 * i] >> 4, body[7 + 3 * i] & 0x0F)
        for i in range(count)
        if 7 + 3 * i < len(body)
    ]
    return marker, width, height, sampling


def jpeg_structure(
    frame: tuple[int, int, int, list[tuple[int, int]]] | None, scans: int, entropy_bytes: int
) -> Structure:
    """Whether the scan data can fill the frame, and the coefficient buffer a decode needs.

    Huffman coding spends at least one bit on every block's DC coefficient, so the scans of a
    complete image hold at least one bit per 8x8 block of every component. Arithmetic coding has
    no such floor and is not judged.
    """
    if frame is None or not frame[3]:
        return Structure("JPEG", scans=scans)
    marker, width, height, sampling = frame
    h_max = max(1, *(h for h, _ in sampling))
    v_max = max(1, *(v for _, v in sampling))
    blocks = sum(
        math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)
        for h, v in sampling
    )
    fills = marker in JPEG_ARITHMETIC or entropy_bytes * 8 >= blocks
    coefficients = blocks * COEFFICIENT_BYTES if scans > 1 else 0
    return Structure("JPEG", fills, scans, coefficients)


def inspect_png(data: bytes, limits: StructureLimits) -> Structure:
    """Count a PNG's chunks up to IEND and check its IDAT data can inflate to the image."""
    pos, chunks, idat_bytes = len(PNG_SIGNATURE), 0, 0
    header = b""
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks += 1
        if chunks > limits.max_png_chunks:
            raise StructureError(f"PNG with over {limits.max_png_chunks} chunks")
        if kind == b"IHDR":
            header = data[pos + 8 : pos + 8 + min(length, 13)]
        elif kind == b"IDAT":
            idat_bytes += min(length, len(data) - pos - 8)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if len(header) < 13:
        return Structure("PNG")
    width, height, depth, colour = struct.unpack_from(">IIBB", header)
    row_bytes = 1 + math.ceil(width * PNG_CHANNELS.get(colour, 1) * depth / 8)  # filter byte
    return Structure("PNG", idat_bytes * DEFLATE_MAX_RATIO >= height * row_bytes)
