"""A real ``uvicorn service.main:app`` process on loopback, for load runs and reliability tests.

The server's output goes to a log file rather than a pipe: under load a pipe nobody reads fills
up and blocks the server. Memory is read from ``/proc/PID/status`` of the uvicorn process itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

STARTUP_SECONDS = 120.0
STOP_SECONDS = 15.0
KIB = 1024


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (``VmRSS``: resident now, ``VmHWM``: its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise KeyError(f"{field} not in /proc/{pid}/status")


@dataclass
class LiveServer:
    """A started uvicorn process and where it answers."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    model: Path
    index_dir: Path

    def rss_bytes(self) -> int:
        """Resident memory of the server process now."""
        return read_status_kib(self.process.pid, "VmRSS") * KIB

    def peak_rss_bytes(self) -> int:
        """Highest resident memory the server process has had so far."""
        return read_status_kib(self.process.pid, "VmHWM") * KIB

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used (``/proc/PID/stat``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def reset_peak_rss(self) -> None:
        """Start a new ``VmHWM`` peak from the current resident memory (Linux ``clear_refs``)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def output(self) -> str:
        """What the server has logged so far."""
        return self.log.read_text(errors="replace")


def wait_ready(server: LiveServer, seconds: float) -> None:
    """Poll ``/readyz`` until 200; raise with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited at startup:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready in {seconds:.0f} s:\n{server.output()}")


@contextmanager
def run_server(
    model: Path,
    index_dir: Path,
    workdir: Path,
    env: Mapping[str, str] | None = None,
    startup_seconds: float = STARTUP_SECONDS,
) -> Iterator[LiveServer]:
    """Start ``python -m uvicorn service.main:app`` on a free port and stop it afterwards.

    Args:
        model: the ONNX file (``LODISC_MODEL_PATH``).
        index_dir: the published index (``LODISC_INDEX_DIR``).
        workdir: the server's working folder (no stray ``.env`` is read) and where its log goes.
        env: further ``LODISC_*`` settings; every other setting keeps its default.
        startup_seconds: how long to wait for ``/readyz``.

    Yields:
        The ready server.
    """
    settings = {k: v for k, v in os.environ.items() if not k.startswith("LODISC_")}
    settings |= {"LODISC_MODEL_PATH": str(model), "LODISC_INDEX_DIR": str(index_dir)}
    settings |= dict(env or {})
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    log = workdir / f"uvicorn-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            command, cwd=workdir, env=settings, stdout=sink, stderr=subprocess.STDOUT
        )
    server = LiveServer(process, f"http://127.0.0.1:{port}", log, model, index_dir)
    try:
        wait_ready(server, startup_seconds)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
