"""``POST /admin/reload`` under load: a real uvicorn, concurrent searching clients, and reloads of
freshly published index generations. No request may fail, and none started after a reload returned
may be answered from an older generation.

Shared by tests/reliability/ (which assert on the results) and bench/faults.py (which tabulates them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.fault_injection import write_noise_images
from harness.search_load import per_address_caps
from indexer.gallery_index import build_index

API_KEY = "fault-injection-key"
STARTUP_S = 60.0
SETTLE_S = 1.0  # load kept on each new generation before the next publish


@dataclass
class ReloadRun:
    """What the clients saw while the index was republished and reloaded."""

    clients: int
    requests: int = 0
    failures: list[str] = field(default_factory=list)  # statuses or errors, first 20
    failure_count: int = 0
    reload_statuses: list[int] = field(default_factory=list)
    generations: list[str] = field(default_factory=list)  # initial, then one per reload
    per_generation: dict[str, int] = field(default_factory=dict)
    stale_after_reload: int = 0  # answers from a generation older than one already reloaded
    seconds: float = 0.0


@dataclass
class _Answer:
    started: float
    status: int
    generation: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    model: Path, index_dir: Path, cwd: Path, settings: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m uvicorn service.main:app`` on a free port, once ``/readyz`` answers 200.

    ``settings``: further ``LODISC_*`` variables.
    """
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODISC_")}
    env |= {"LODISC_MODEL_PATH": str(model), "LODISC_INDEX_DIR": str(index_dir)}
    env |= {"LODISC_API_KEY": API_KEY, "LODISC_DEVICE": "cpu", **(settings or {})}
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--port", str(port)]
    log = open(cwd / "server.log", "wb")  # noqa: SIM115 - the server owns it until it exits
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"the server did not start: {(cwd / 'server.log').read_text()[-2000:]}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if it does not exit in 15 s."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def run_reload_under_load(
    work: Path, model: Path, seed_gallery: Path, clients: int = 8, reloads: int = 3
) -> ReloadRun:
    """Serve an index of ``seed_gallery``; republish it ``reloads`` times (one image more each)
    and ``POST /admin/reload`` each, while ``clients`` threads search without pause."""
    started = time.perf_counter()
    gallery, index_dir = work / "gallery", work / "index"
    shutil.copytree(seed_gallery, gallery)
    build_index(model, gallery, index_dir, index_kind="flat", device="cpu", workers=0)
    queries = [p.read_bytes() for p in sorted(gallery.rglob("*.png"))[:clients]]
    # The search threads all come from 127.0.0.1 but stand for different users.
    server, url = start_server(model, index_dir, work, per_address_caps(clients))
    run = ReloadRun(clients)
    answers: list[_Answer] = []
    reloaded: list[tuple[float, int]] = []  # (when a reload returned, its generation's rank)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_search_loop, args=(url, query, stop, answers)) for query in queries
    ]
    try:
        run.generations.append(httpx.get(f"{url}/readyz").json()["index_version"]["generation"])
        for thread in threads:
            thread.start()
        time.sleep(SETTLE_S)
        for i in range(reloads):
            write_noise_images(gallery / f"added-{i}", 1, seed=i)
            build_index(model, gallery, index_dir, index_kind="flat", device="cpu", workers=0)
            response = httpx.post(f"{url}/admin/reload", headers={"X-API-Key": API_KEY}, timeout=60)
            run.reload_statuses.append(response.status_code)
            if response.status_code == 200:
                run.generations.append(response.json()["index_version"]["generation"])
                reloaded.append((time.monotonic(), len(run.generations) - 1))
            time.sleep(SETTLE_S)
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join()
        stop_server(server)
    _tally(run, answers, reloaded)
    run.seconds = time.perf_counter() - started
    return run


def _search_loop(url: str, query: bytes, stop: threading.Event, answers: list[_Answer]) -> None:
    """Search with one image until ``stop``; record every answer (list.append is thread-safe)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            began = time.monotonic()
            try:
                response = client.post(
                    "/search", files={"image": ("q.png", query, "image/png")}, params={"k": 3}
                )
            except httpx.HTTPError as err:
                answers.append(_Answer(began, -1, f"{type(err).__name__}: {err}"))
                continue
            ok = response.status_code == 200
            detail = response.json()["index_version"]["generation"] if ok else response.text
            answers.append(_Answer(began, response.status_code, detail[:200]))


def _tally(run: ReloadRun, answers: list[_Answer], reloaded: list[tuple[float, int]]) -> None:
    """Count requests, failures, and answers older than a reload that returned before they began."""
    order = {generation: i for i, generation in enumerate(run.generations)}
    run.requests = len(answers)
    failed = [a for a in answers if a.status != 200]
    run.failure_count = len(failed)
    run.failures = [f"{a.status}: {a.generation}" for a in failed[:20]]
    served = [a for a in answers if a.status == 200]
    run.per_generation = dict(Counter(a.generation for a in served))
    for answer in served:
        newest = max((i for at, i in reloaded if at < answer.started), default=0)
        run.stale_after_reload += order.get(answer.generation, -1) < newest
