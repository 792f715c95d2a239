"""``scripts/demo.sh`` (what ``make demo`` runs) in a child process on free ports, for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.live_server import free_port

REPO = Path(__file__).resolve().parents[1]


def start_demo(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start the demo with ``env`` (on top of this process's, minus DATA/MODEL/TRAIN unless
    given) in its own session; returns the process and the API port."""
    api = free_port()
    full = {k: v for k, v in os.environ.items() if k not in ("DATA", "MODEL", "TRAIN")}
    full.update(WORK=str(work), API_PORT=str(api), UI_PORT=str(free_port()), **env)
    demo = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=REPO, env=full, start_new_session=True)
    return demo, api


def stop_demo(demo: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    """SIGTERM the demo's process group, as Ctrl-C in its terminal would; returns its exit code.

    Raises:
        subprocess.TimeoutExpired: it did not exit within ``timeout_s`` (the group is then killed).
    """
    os.killpg(demo.pid, signal.SIGTERM)
    try:
        return demo.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)  # leave no server behind, then report the hang
        raise


@contextmanager
def running_demo(work: Path, env: dict[str, str], ready_s: float = 240.0) -> Iterator[int]:
    """Start the demo (see ``start_demo``), wait for ``/readyz`` and yield the API port; the demo
    is stopped on exit.

    Raises:
        TimeoutError: the demo was not ready within ``ready_s``.
        RuntimeError: the demo exited before it was ready.
    """
    demo, api = start_demo(work, env)
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if demo.poll() is not None:
                raise RuntimeError(f"the demo exited with {demo.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{api}/readyz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the demo was not ready within {ready_s:.0f} s") from None
                time.sleep(1)
        yield api
    finally:
        stop_demo(demo)
