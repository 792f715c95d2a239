"""``python -m service``'s h11 protocol closes connections whose request head never completes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from harness.live_server import free_port
from service.__main__ import header_timeout_protocol

HEADER_TIMEOUT_S = 0.3


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A uvicorn server (in a thread) with the head timeout; its port."""
    number = free_port()
    config = uvicorn.Config(
        hello,
        port=number,
        http=header_timeout_protocol(HEADER_TIMEOUT_S),
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield number
    server.should_exit = True
    thread.join(5)


def closed_after(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (None if it stayed open ``seconds``)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return None
    return time.monotonic() - start


def test_a_dribbled_head_is_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):  # one more header line now and then never completes the head
            time.sleep(HEADER_TIMEOUT_S / 4)
            sock.sendall(b"X-Slow: 1\r\n")
        waited = closed_after(sock, 2.0)
    assert waited is not None and waited < 1.5


def test_a_silent_connection_is_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert closed_after(sock, 2.0) is not None


def test_a_prompt_request_is_answered(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(HEADER_TIMEOUT_S * 2)  # the timer must not fire once the head is in
        sock.settimeout(2.0)
        reply = b""
        while chunk := sock.recv(1024):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and b"hello" in reply
