"""Replicas: ``LODISC_WORKERS=2 python -m service`` on one TCP_NODELAY socket, and every worker
following a rebuilt index (generation watch)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from harness.fault_reload import stop_server
from indexer.gallery_index import build_index
from service.config import Settings
from service.generation_watch import GenerationWatch
from service.main import create_app
from service.replicas import listening_socket

STARTUP_SECONDS = 60
PROBES = 24  # fresh connections: a stale worker among two escapes all of them with p = 2^-24


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def own_index(service_model: Path, gallery: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A gallery copy and its index folder, free to rebuild."""
    copy, out = tmp_path / "gallery", tmp_path / "index"
    shutil.copytree(gallery, copy)
    build_index(service_model, copy, out, index_kind="flat", device="cpu", workers=0)
    return copy, out


def _generations(base: str) -> set[str]:
    """The generation each of ``PROBES`` new connections is served."""
    seen = set()
    for _ in range(PROBES):
        with httpx.Client(base_url=base, timeout=10) as client:  # one connection each
            seen.add(client.get("/readyz").json()["index_version"]["generation"])
    return seen


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.fixture()
def two_workers(
    service_model: Path, own_index: tuple[Path, Path], tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODISC_")}
    env |= {
        "LODISC_MODEL_PATH": str(service_model),
        "LODISC_INDEX_DIR": str(own_index[1]),
        "LODISC_PORT": str(port),
        "LODISC_WORKERS": "2",
        "LODISC_WATCH_INTERVAL_S": "0.3",
        "LODISC_CALIBRATION_SAMPLE": "0",
    }
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "service"], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready in time"
            time.sleep(0.2)
        yield base, server
    finally:
        stop_server(server)
        log.close()


def test_listening_socket_is_ipproto_tcp() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio then sets TCP_NODELAY per connection
    finally:
        sock.close()


def test_two_workers_serve_and_all_follow_a_rebuild(
    two_workers: tuple[str, subprocess.Popen],
    service_model: Path,
    own_index: tuple[Path, Path],
    gallery_files: list[Path],
) -> None:
    base, server = two_workers
    assert len(_children(server.pid)) >= 2  # two spawned workers (plus the spawn tracker)
    first = _generations(base)
    assert len(first) == 1
    copy, out = own_index
    sorted(copy.rglob("*.png"))[0].unlink()
    summary = build_index(service_model, copy, out, index_kind="flat", device="cpu", workers=0)
    deadline = time.monotonic() + 20
    while (seen := _generations(base)) != {summary["generation"]}:
        assert time.monotonic() < deadline, f"still serving {seen}"
        time.sleep(0.3)
    response = httpx.post(
        f"{base}/search", files={"image": ("a.png", gallery_files[5].read_bytes())}, timeout=30
    )
    assert response.status_code == 200 and len(response.json()["results"]) > 0


def test_failed_start_exits_nonzero_naming_the_variable(
    service_model: Path, index_dir: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODISC_")}
    env |= {
        "LODISC_MODEL_PATH": str(service_model),
        "LODISC_INDEX_DIR": str(index_dir),
        "LODISC_PORT": str(free_port()),
        "LODISC_WORKERS": "2",
        "LODISC_VECTOR_STORE": "milvus://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert done.returncode != 0 and b"LODISC_VECTOR_STORE" in done.stdout + done.stderr


def test_watch_swaps_on_a_new_generation_and_skips_a_bad_one(
    service_model: Path,
    other_model: Path,
    own_index: tuple[Path, Path],
    settings: Settings,
) -> None:
    copy, out = own_index
    update = {"index_dir": out, "calibration_sample": 0, "vector_store": "faiss"}  # own index
    watched = settings.model_copy(update=update)
    with TestClient(create_app(watched)) as client:
        slot = client.app_state["slot"]
        watch = GenerationWatch(slot, client.app_state["batcher"], watched)
        before = slot.current
        assert not watch.check()  # nothing new
        sorted(copy.rglob("*.png"))[0].unlink()
        summary = build_index(service_model, copy, out, index_kind="flat", device="cpu", workers=0)
        assert watch.check() and slot.current is not before
        assert slot.current.index_version["generation"] == summary["generation"]
        serving = slot.current
        build_index(other_model, copy, out, index_kind="flat", device="cpu", workers=0)
        assert not watch.check() and slot.current is serving  # mismatch: logged, skipped
        assert not watch.check()  # and not retried
