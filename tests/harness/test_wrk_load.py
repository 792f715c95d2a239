"""harness/wrk_load.py against a small keep-alive HTTP server: figures, errors, missing wrk."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import wrk_load
from harness.wrk_load import WrkMissingError, run_wrk

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


class Recorder(BaseHTTPRequestHandler):
    """Answers POST /ok with 200 and anything else with 404; counts the bodies it got."""

    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    bodies: Counter[bytes] = Counter()

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.bodies[body] += 1
        status = 200 if self.path == "/ok?k=3" else 404
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.bodies.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@needs_wrk
def test_posts_every_body_in_turn_and_reports_figures(server_url: str) -> None:
    report = run_wrk(f"{server_url}/ok?k=3", [b"first", b"second"], "text/plain", 2, 1)
    assert report.errors == 0 and report.requests > 10
    assert set(Recorder.bodies) == {b"first", b"second"}
    assert abs(Recorder.bodies[b"first"] - Recorder.bodies[b"second"]) <= report.connections
    assert 0 < report.p50_ms <= report.p95_ms <= report.p99_ms
    assert report.requests_per_s == pytest.approx(report.requests / report.seconds)
    assert 0 < report.client_cpu_s < 2 * report.seconds


@needs_wrk
def test_non_2xx_answers_count_as_errors(server_url: str) -> None:
    report = run_wrk(f"{server_url}/missing", [b"x"], "text/plain", 1, 1)
    assert report.errors == report.requests > 0


def test_missing_wrk_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wrk_load.shutil, "which", lambda name: None)
    with pytest.raises(WrkMissingError, match="apt-get install wrk"):
        run_wrk("http://127.0.0.1:9/x", [b"x"], "text/plain", 1, 1)
