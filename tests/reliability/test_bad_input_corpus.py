"""A generated corpus of bad and odd requests against a real uvicorn process.

Every case gets its documented status (odd but valid images get 200, the rest a 4xx with a JSON
``detail``), the server answers ``/healthz`` after each one, and its resident memory (VmRSS of the
uvicorn process) stays bounded over two passes of the whole corpus.
"""

from __future__ import annotations

import functools
import io
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from harness.live_server import LiveServer
from tests.reliability.hostile_samples import (
    header_bomb_jpeg,
    metadata_fuzz,
    png_chunk_flood,
    repeated_scan_jpeg,
    tiff_im_polyglot,
)
from tests.reliability.live_service import (
    API_KEY,
    gallery_images,
    live_server_fixture,  # noqa: F401 - live_server
)

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 20 * MIB  # service.config.Settings.max_bytes, which the live server keeps
# Two passes of the corpus may leave this much more resident memory in the server (allocator
# arenas of the threadpool's threads: 20-35 MiB measured, flat after the third pass). A decoded
# 20000 x 20000 bomb alone would take 400 MiB, a leaked oversize body 20 MiB a pass.
RSS_GROWTH_BOUND = 64 * MIB
# The highest resident memory over both passes may exceed the start by this much: the largest
# legitimate allocation is one oversize upload read in full (20 MiB) plus the body Starlette spools.
PEAK_GROWTH_BOUND = 160 * MIB
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Case:
    """One request and the status the service documents for it."""

    name: str
    status: int
    method: str = "POST"
    path: str = "/search"
    params: dict[str, Any] = field(default_factory=dict)
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    detail: str = ""  # a substring the JSON detail must contain


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    """An RGB test image (vectorised: no loops over pixels)."""
    ys, xs = np.mgrid[0:height, 0:width]
    planes = [xs * 255 // max(1, width - 1), ys * 255 // max(1, height - 1), (xs + ys) % 256]
    return Image.fromarray(np.stack(planes, axis=-1).astype(np.uint8), "RGB")


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    """An image saved to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` and whose pixel data is a few rows at most."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * min(height, 16))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@functools.cache
def tall_strip_png(height: int) -> bytes:
    """A complete, valid 1-pixel-wide PNG: tiny to send, a flood of pixels once resized."""
    return encode(Image.new("L", (1, height), 128), "PNG", compress_level=9)


def exif_rotated_jpeg() -> bytes:
    """A 64 x 32 JPEG whose EXIF orientation (6) says to rotate it upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(gradient(64, 32), "JPEG", exif=exif)


def animated_gif() -> bytes:
    """Three frames of different colours."""
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "green", "blue")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def sixteen_bit_png() -> bytes:
    """A 16-bit greyscale PNG (mode I;16)."""
    ramp = (np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16)
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    return encode(image, "PNG")


def jpeg_comment_flood(count: int) -> bytes:
    """A small JPEG with ``count`` empty comment segments, each parsed by Pillow in Python."""
    jpeg = encode(gradient(16, 16), "JPEG")
    return jpeg[:2] + b"\xff\xfe\x00\x02" * count + jpeg[2:]


def upload(data: bytes, name: str = "q.png", mime: str = "image/png") -> list:
    """The ``image`` form field of ``POST /search``."""
    return [("image", (name, data, mime))]


def image_cases(good: bytes) -> list[Case]:
    """Uploads of odd but valid images (200) and of broken or refused ones (4xx)."""
    jpeg = encode(gradient(), "JPEG", quality=90)
    ok = [
        ("1x1 png", encode(Image.new("RGB", (1, 1), "white"), "PNG")),
        ("cmyk jpeg", encode(gradient().convert("CMYK"), "JPEG")),
        ("16-bit png", sixteen_bit_png()),
        ("palette png", encode(gradient().convert("P"), "PNG")),
        ("palette png with transparency", encode(gradient().convert("P"), "PNG", transparency=0)),
        ("rgba png", encode(gradient().convert("RGBA"), "PNG")),
        ("grey+alpha png", encode(gradient().convert("LA"), "PNG")),
        ("animated gif", animated_gif()),
        ("exif-rotated jpeg", exif_rotated_jpeg()),
        ("webp", encode(gradient(), "WEBP")),
        ("bmp", encode(gradient(), "BMP")),
        ("tiff", encode(gradient(), "TIFF")),
        ("1 x 2000 strip", tall_strip_png(2000)),
        ("tiff that is also an IM header", tiff_im_polyglot()[0]),
        ("progressive jpeg of 12 scans", repeated_scan_jpeg(12)),
        ("png of 500 empty chunks", png_chunk_flood(500)),
    ]
    ok += [(f"malformed metadata {name}", data) for name, data in metadata_fuzz(12, seed=3)]
    bad = [
        ("empty file", b"", 400, "empty upload"),
        ("plain text", b"hello, I am not an image", 400, "not an image"),
        ("html", b"<!doctype html><html><body>hi</body></html>", 400, "not an image"),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', 400, "not an"),
        ("pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", 400, "not an image"),
        ("truncated jpeg", jpeg[: len(jpeg) // 2], 400, "cannot decode"),
        ("truncated png", good[: len(good) // 2], 400, "cannot decode"),
        ("png header only", good[:33], 400, ""),
        ("zero-size png", png_header_only(0, 0), 400, ""),
        ("20000x20000 bomb", png_header_only(20_000, 20_000), 413, "bomb"),
        ("1 x 30M pixel flood", tall_strip_png(30_000_000), 413, "over the limit"),
        ("40 MP header on 16x16 jpeg data", header_bomb_jpeg(), 400, "truncated"),
        ("progressive jpeg of 300 scans", repeated_scan_jpeg(300), 400, "scans"),
        ("png of 200k empty chunks", png_chunk_flood(200_000), 400, "chunks"),
        ("jpeg of 100k comments", jpeg_comment_flood(100_000), 400, "segments"),
    ]
    cases = [Case(f"upload {name}", 200, files=upload(data)) for name, data in ok]
    cases += [Case(f"upload {n}", s, files=upload(d), detail=m) for n, d, s, m in bad]
    return cases


def form_cases(good: bytes) -> list[Case]:
    """Malformed forms, oversize bodies and odd file names."""
    boundary = "corpus-boundary"
    return [
        Case("no body", 422),
        Case("wrong field name", 422, files=[("file", ("q.png", good, "image/png"))]),
        Case("json instead of a form", 422, content=b'{"image": "x"}', headers=JSON),
        Case(
            "garbled multipart",
            400,
            content=b"--" + boundary.encode() + b"\r\nnonsense without headers",
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        ),
        Case("unicode file name", 200, files=upload(good, "näïve 鳥 🐦.png")),
        Case("path-like file name", 200, files=upload(good, "../../../etc/passwd")),
        Case("wrong content type", 200, files=upload(good, "q.txt", "text/plain")),
        Case(
            "image over max_bytes",
            413,
            files=upload(good + b"\0" * (DEFAULT_MAX_BYTES + 1 - len(good))),
            detail=f"over {DEFAULT_MAX_BYTES} bytes",
        ),
        Case(
            "oversize multipart body",
            413,
            files=upload(b"\0" * (DEFAULT_MAX_BYTES + 2 * MIB)),
            detail="request body",
        ),
        Case("17 images in a batch", 413, path="/search/batch", files=batch(good, 17)),
        Case(
            "every image of a batch bad",
            400,
            path="/search/batch",
            files=batch(b"junk", 2),
            detail="images[0]",
        ),
    ]


JSON = {"content-type": "application/json"}


def batch(data: bytes, count: int) -> list:
    """``count`` copies of one upload in the ``images`` field."""
    return [("images", (f"{i}.png", data, "image/png")) for i in range(count)]


def parameter_cases(good: bytes) -> list[Case]:
    """Out-of-range and ill-typed query parameters."""
    cases = [
        Case(f"k={k}", 422, params={"k": k}, files=upload(good))
        for k in (0, -1, 10**9, "abc", 1.5, "", 10**30)
    ]
    cases += [Case("explain=maybe", 422, params={"explain": "maybe"}, files=upload(good))]
    cases += [Case("inline=2", 422, params={"inline": "2"}, files=upload(good))]
    cases += [
        Case(f"browse {params}", 422, "GET", "/items", params=params)
        for params in (
            {"limit": 0},
            {"limit": 10**6},
            {"offset": -1},
            {"offset": "x"},
            {"offset": 2**63},
        )
    ]
    cases += [
        Case("browse far past the end", 200, "GET", "/items", params={"offset": 2**63 - 1}),
        Case("unknown label", 200, "GET", "/items", params={"label": "nö\u0000such"}),
        Case("similar k=0", 422, "GET", "/items/1/similar", params={"k": 0}),
    ]
    return cases


def path_cases() -> list[Case]:
    """Unknown ids, ids that are not ids, and client-named paths."""
    cases = [
        Case(f"unknown id {suffix or '/'}", 404, "GET", f"/items/999999{suffix}", detail="999999")
        for suffix in ("", "/image", "/overlay", "/similar")
    ]
    cases += [
        Case(f"id {raw}", status, "GET", f"/items/{raw}/image")
        for raw, status in (("-1", 422), ("1.5", 422), ("abc", 422), (str(2**63), 422))
    ]
    cases += [
        Case(f"id {raw!r}", 422, "GET", f"/items/{raw}")
        for raw in ("%201", "+1", "01", "1.0", "1_0", "1%20")
    ]
    cases += [
        Case(f"id 2**63-1{suffix}", 404, "GET", f"/items/{2**63 - 1}{suffix}")
        for suffix in ("", "/image", "/similar")
    ]
    cases += [
        Case(f"path {raw}", 404, "GET", raw)
        for raw in (
            "/items/..%2F..%2Fetc%2Fpasswd/image",
            "/items/%2Fetc%2Fpasswd/image",
            "/items/1/image/..%2F..%2F..%2Fetc%2Fpasswd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/static/../../etc/passwd",
        )
    ]
    cases += [
        Case("GET /search", 405, "GET"),
        Case("admin without a key", 401, path="/admin/reload"),
        Case("admin with a wrong key", 403, path="/admin/reload", headers={"X-API-Key": "guess"}),
    ]
    admin = {"X-API-Key": API_KEY, **JSON}
    cases += [
        Case(f"reload {name}", status, path="/admin/reload", content=body, headers=admin)
        for name, body, status in (
            ("body not json", b"{model_path: ", 422),
            ("body not utf-8", b"\x80", 400),
            ("model_path not a string", b'{"model_path": [1]}', 422),
            ("model_path with NUL", b'{"model_path": "a\\u0000b"}', 422),
            ("model_path 5000 chars", json.dumps({"model_path": "x" * 5000}).encode(), 422),
            ("index_dir /etc", b'{"index_dir": "/etc"}', 422),
            ("model_path /etc/passwd", b'{"model_path": "/etc/passwd"}', 422),
        )
    ]
    return cases


def build_corpus(good: bytes) -> list[Case]:
    """Every case, generated."""
    return image_cases(good) + form_cases(good) + parameter_cases(good) + path_cases()


def send(http: httpx.Client, case: Case) -> httpx.Response:
    """Send one case."""
    return http.request(
        case.method,
        case.path,
        params=case.params,
        files=case.files,
        content=case.content,
        headers=case.headers,
    )


def check_case(http: httpx.Client, case: Case) -> str | None:
    """Send a case and check its answer and the server's health; a description of what is wrong."""
    try:
        response = send(http, case)
    except httpx.TransportError as err:
        return f"{case.name}: no answer ({type(err).__name__}: {err})"
    if response.status_code != case.status:
        return (
            f"{case.name}: {response.status_code} (expected {case.status}): {response.text[:200]}"
        )
    if case.status >= 400:
        try:
            detail = response.json()["detail"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return f"{case.name}: no JSON detail in {response.text[:200]!r}"
        if not detail or case.detail not in json.dumps(detail, ensure_ascii=False):
            return f"{case.name}: detail {detail!r} lacks {case.detail!r}"
    elif case.path == "/search" and not response.json()["results"]:
        return f"{case.name}: 200 without results"
    if response.headers.get("x-content-type-options") != "nosniff":
        return f"{case.name}: no X-Content-Type-Options: nosniff"
    if http.get("/healthz").status_code != 200:
        return f"{case.name}: /healthz failed afterwards"
    return None


def run_corpus(server: LiveServer, corpus: list[Case], passes: int) -> dict[str, Any]:
    """Send the corpus ``passes`` times; problems found and memory before, after and at peak."""
    problems: list[str] = []
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as http:
        warm_up: Callable[[], int] = lambda: send(http, corpus[0]).status_code  # noqa: E731
        assert warm_up() == 200
        before = server.rss_bytes()
        server.reset_peak_rss()
        for _ in range(passes):
            problems += [p for case in corpus if (p := check_case(http, case))]
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
    return {
        "problems": problems,
        "before": before,
        "after": server.rss_bytes(),
        "peak": server.peak_rss_bytes(),
    }


def test_corpus_is_large_and_covers_the_issue(tiny_data: Path) -> None:
    corpus = build_corpus(gallery_images(tiny_data)[0].read_bytes())
    names = [case.name for case in corpus]
    assert len(names) == len(set(names)) and len(corpus) >= 25
    required = ("empty", "html", "truncated jpeg", "truncated png", "zero-size", "1x1", "bomb")
    required += ("cmyk", "16-bit", "palette", "rgba", "animated", "exif", "svg", "oversize")
    required += ("wrong field", "unicode", "k=0", "k=-1", f"k={10**9}", "k=abc", "explain=maybe")
    required += ("unknown id", "..%2F", "40 MP header", "300 scans", "empty chunks", "comments")
    required += ("malformed metadata", "IM header", "'+1'", "'01'", "'1_0'")
    assert [r for r in required if not any(r in name for name in names)] == []


def test_bad_input_corpus_against_uvicorn(live_server: LiveServer, tiny_data: Path) -> None:
    corpus = build_corpus(gallery_images(tiny_data)[0].read_bytes())
    report = run_corpus(live_server, corpus, passes=2)
    assert not report["problems"], "\n".join(report["problems"])
    growth = report["after"] - report["before"]
    peak = report["peak"] - report["before"]
    print(
        f"\nRSS {report['before'] / MIB:.1f} -> {report['after'] / MIB:.1f} MiB, peak +{peak / MIB:.1f}"
    )
    assert growth < RSS_GROWTH_BOUND, f"RSS grew by {growth / MIB:.1f} MiB over two passes"
    assert peak < PEAK_GROWTH_BOUND, f"RSS peaked {peak / MIB:.1f} MiB above the start"
    assert live_server.process.poll() is None
