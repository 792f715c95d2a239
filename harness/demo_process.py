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


@contextmanager
def running_demo(work: Path, env: dict[str, str], ready_s: float = 240.0) -> Iterator[int]:
    """Start the demo with ``env`` (on top of this process's, minus DATA/MODEL/TRAIN unless
    given), wait for ``/readyz`` and yield the API port; the demo is stopped on exit.

    Raises:
        TimeoutError: the demo was not ready within ``ready_s``.
        RuntimeError: the demo exited before it was ready.
    """
    api = free_port()
    full = {k: v for k, v in os.environ.items() if k not in ("DATA", "MODEL", "TRAIN")}
    full.update(WORK=str(work), API_PORT=str(api), UI_PORT=str(free_port()), **env)
    demo = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=REPO, env=full, start_new_session=True)
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
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)
