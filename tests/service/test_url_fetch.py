"""Search by image URL: off by default, public addresses only (every redirect re-checked), capped
in size and time. A local server stands in for the internet; the tests that need it to count as
public pass an address policy that allows 127.0.0.1 only."""

from __future__ import annotations

import io
import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.config import Settings
from service.main import create_app
from service.url_fetch import FetchLimits, UrlFetchError, check_url, fetch_image, public_address

PNG = io.BytesIO()
Image.new("RGB", (40, 30), (10, 200, 30)).save(PNG, "PNG")


def only_first_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return str(address) == "127.0.0.1"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        port = self.server.server_address[1]
        if self.path == "/img.png":
            self._send(200, PNG.getvalue())
        elif self.path == "/to-private":
            self._redirect(f"http://127.0.0.2:{port}/img.png")
        elif self.path == "/to-image":
            self._redirect("/img.png")
        elif self.path == "/loop":
            self._redirect("/loop")
        elif self.path == "/big":
            self._send(200, b"x" * 5000)
        elif self.path == "/slow":
            self.send_response(200)
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self._send(404, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


LIMITS = FetchLimits(max_bytes=4096, timeout_s=1.0)


def test_private_loopback_and_link_local_addresses_are_refused(origin: str) -> None:
    for url in (f"{origin}/img.png", "http://169.254.169.254/latest/meta-data", "http://[::1]/"):
        with pytest.raises(UrlFetchError, match="not public"):
            check_url(url, public_address)
    for url in ("file:///etc/passwd", "ftp://example.com/x.png", "http:///nohost"):
        with pytest.raises(UrlFetchError, match="only http and https"):
            check_url(url, public_address)


def test_fetch_follows_checked_redirects_and_caps_size_and_time(origin: str) -> None:
    assert fetch_image(f"{origin}/to-image", LIMITS, only_first_loopback) == PNG.getvalue()
    with pytest.raises(UrlFetchError, match="127.0.0.2.*not public"):
        fetch_image(f"{origin}/to-private", LIMITS, only_first_loopback)
    with pytest.raises(UrlFetchError, match="redirects"):
        fetch_image(f"{origin}/loop", LIMITS, only_first_loopback)
    with pytest.raises(UrlFetchError, match="over 4096") as big:
        fetch_image(f"{origin}/big", LIMITS, only_first_loopback)
    assert big.value.status == 413
    started = time.monotonic()
    with pytest.raises(UrlFetchError, match="too slowly|took over") as slow:
        fetch_image(f"{origin}/slow", LIMITS, only_first_loopback)
    assert slow.value.status == 408 and time.monotonic() - started < 1.6
    with pytest.raises(UrlFetchError, match="HTTP 404"):
        fetch_image(f"{origin}/missing", LIMITS, only_first_loopback)


def test_the_api_keeps_url_search_off_unless_enabled(
    settings: Settings, origin: str, gallery_files: list[Path]
) -> None:
    form = {"image_url": f"{origin}/img.png"}
    with TestClient(create_app(settings)) as client:
        off = client.post("/search", data=form)
        assert off.status_code == 403 and "LODISC_ALLOW_URL_FETCH" in off.json()["detail"]
        assert client.post("/search").status_code == 422
        both = client.post("/search", data=form, files={"image": ("a.png", PNG.getvalue())})
        assert both.status_code == 400
    enabled = settings.model_copy(update={"allow_url_fetch": True})
    with TestClient(create_app(enabled)) as client:
        refused = client.post("/search", data=form)  # the test server is on loopback
        assert refused.status_code == 400 and "not public" in refused.json()["detail"]
        upload = client.post("/search", files={"image": ("a.png", gallery_files[0].read_bytes())})
        assert upload.status_code == 200
