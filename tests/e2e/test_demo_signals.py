"""``make demo`` stops at once on SIGTERM or Ctrl-C, also while it waits for its API to start."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from harness.demo_process import start_demo, stop_demo


def port_is_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_a_signal_during_start_up_stops_the_demo_and_its_servers(tmp_path: Path) -> None:
    work = tmp_path / "work"
    demo, api = start_demo(work, {})
    deadline = time.monotonic() + 240
    # the UI's log is opened as the servers are launched, just before the wait for /readyz
    while not (work / "streamlit.log").exists():
        assert demo.poll() is None, f"the demo exited with {demo.returncode} before its servers"
        assert time.monotonic() < deadline, "the demo did not launch its servers within 240 s"
        time.sleep(0.05)
    started = time.monotonic()
    code = stop_demo(demo, timeout_s=15)  # it kept polling stopped servers for a minute before
    assert time.monotonic() - started < 15
    assert code == 143
    # a server still loading its model when the signal came closes once it is up: give it time
    closed_by = time.monotonic() + 30
    while port_is_open(api) and time.monotonic() < closed_by:
        time.sleep(0.5)
    assert not port_is_open(api), "the API server outlived the demo"
