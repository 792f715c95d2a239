"""``LODISC_WORKERS=N python -m service``: N worker processes serving one listening socket.

The socket is made here with ``IPPROTO_TCP`` rather than by ``uvicorn --workers``: asyncio sets
TCP_NODELAY on accepted connections only when the listening socket's protocol is IPPROTO_TCP,
and uvicorn's own (``proto=0``, uvicorn issue #3149) leaves Nagle on, which adds about 44 ms to
every keep-alive response (NOTES.md, HTTP). The kernel spreads connections over the workers'
``accept`` calls. Each worker loads its own model and index; they follow new generations through
``service/generation_watch.py``.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess

logger = logging.getLogger(__name__)

BACKLOG = 2048
CHECK_S = 0.5  # how often dead workers are looked for
MIN_UPTIME_S = 30.0  # a worker that dies sooner failed to start: stop rather than loop restarting
STOP_GRACE_S = 30.0  # after SIGTERM, time for in-flight requests before a worker is killed
STARTUP_FAILURE = 3  # uvicorn's exit code when the app fails to start


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket whose accepted connections get TCP_NODELAY."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def serve_worker(sock: socket.socket) -> None:
    """One worker process: the app on the shared socket, settings from the inherited environment.

    The uvicorn options come from ``service/__main__.py`` (importing it runs nothing): spawned
    processes cannot unpickle what the ``-m`` entry module defines, so they import it by name.
    """
    import uvicorn

    from service.__main__ import server_options
    from service.main import load_settings

    logging.basicConfig(level=logging.INFO)
    server = uvicorn.Server(uvicorn.Config("service.main:app", **server_options(load_settings())))
    server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def run_workers(count: int, sock: socket.socket) -> int:
    """Run :func:`serve_worker` in ``count`` spawned processes until SIGINT/SIGTERM; returns an
    exit code.

    A worker that exits after serving a while is replaced; one that exits within
    ``MIN_UPTIME_S`` of its start (bad settings, an unreachable vector store) stops them all
    with exit code 1, its error in the log, instead of a restart loop.
    """
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    workers = [_start(spawn, sock) for _ in range(count)]
    status = 0
    while not stop.wait(CHECK_S):
        for slot, (process, started) in enumerate(workers):
            if process.is_alive():
                continue
            if time.monotonic() - started < MIN_UPTIME_S:
                logger.error("worker %s failed to start (exit %s)", process.pid, process.exitcode)
                status = 1
                stop.set()
                break
            logger.warning("worker %s exited (%s): starting another", process.pid, process.exitcode)
            workers[slot] = _start(spawn, sock)
    for process, _ in workers:
        process.terminate()  # SIGTERM: uvicorn finishes in-flight requests
    for process, _ in workers:
        process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
    return status


def _start(
    spawn: multiprocessing.context.SpawnContext, sock: socket.socket
) -> tuple[BaseProcess, float]:
    """Start one worker; returns it with its start time."""
    process = spawn.Process(target=serve_worker, args=(sock,), daemon=False)
    process.start()
    logger.info("started worker %s", process.pid)
    return process, time.monotonic()
