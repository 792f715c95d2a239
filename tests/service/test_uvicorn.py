"""The real server: ``python -m uvicorn service.main:app`` configured by environment variables."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.fault_reload import stop_server

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_uvicorn_process_serves_search(
    service_model: Path, index_dir: Path, gallery_files: list[Path], tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODISC_")}
    env |= {"LODISC_MODEL_PATH": str(service_model), "LODISC_INDEX_DIR": str(index_dir)}
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--port", str(port)]
    server = subprocess.Popen(  # run from an empty folder: no stray .env is read
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server not ready in time")
            time.sleep(0.2)
        data = gallery_files[0].read_bytes()
        response = httpx.post(
            f"{base}/search",
            files={"image": ("a.png", data, "image/png")},
            params={"k": 3, "explain": "true"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
        assert body["query_overlay"].startswith("data:image/png;base64,")
        bad = httpx.post(f"{base}/search", files={"image": ("x", b"nope", "image/png")})
        assert bad.status_code == 400
        assert httpx.get(f"{base}/metrics").status_code == 200
    finally:
        stop_server(server)
        if server.stdout:
            server.stdout.close()
