"""Closed-loop ``POST`` load from ``wrk``, a load generator written in C, with its own CPU measured.

Python clients on the server's own two cores take CPU the server would otherwise have (about 1 ms
per request for an httpx client); ``wrk`` spends a few microseconds per request, and the CPU time
it used is read from the kernel (``RUSAGE_CHILDREN``) and reported beside the figures. The request
bodies are formatted once in a Lua script and sent in turn, one keep-alive connection per client.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

WRK_TIMEOUT_S = 30  # a request slower than this counts as a wrk timeout error

# Reads the bodies written beside it, cycles through them, and prints the figures as JSON.
LUA_SCRIPT = r"""
local requests = {}
local next_request = 1
local count = tonumber(os.getenv("WRK_BODIES"))
local folder = os.getenv("WRK_FOLDER")
local path = os.getenv("WRK_PATH")
local content_type = os.getenv("WRK_CONTENT_TYPE")
for i = 1, count do
  local file = assert(io.open(folder .. "/body" .. i, "rb"))
  local body = file:read("*all")
  file:close()
  requests[i] = wrk.format("POST", path, {["Content-Type"] = content_type}, body)
end

request = function()
  local chosen = requests[next_request]
  next_request = next_request % count + 1
  return chosen
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), errors.connect, errors.read, errors.write, errors.status,
    errors.timeout))
end
"""


class WrkMissingError(RuntimeError):
    """``wrk`` is not installed (``apt-get install wrk``)."""


@dataclass(frozen=True)
class WrkReport:
    """Figures of one wrk run; ``errors`` counts non-2xx answers, timeouts and socket errors."""

    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    client_cpu_s: float

    @property
    def requests_per_s(self) -> float:
        """Answered requests per second of the run."""
        return self.requests / self.seconds

    @property
    def client_cpu_pct(self) -> float:
        """wrk's CPU time as a percentage of one core over the run."""
        return 100.0 * self.client_cpu_s / self.seconds


def wrk_path() -> str:
    """Where ``wrk`` is.

    Raises:
        WrkMissingError: it is not on ``PATH``.
    """
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissingError("wrk is not installed: apt-get install wrk (or brew install wrk)")
    return found


def children_cpu_seconds() -> float:
    """User plus system CPU time of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    url: str,
    bodies: list[bytes],
    content_type: str,
    connections: int,
    seconds: float,
) -> WrkReport:
    """POST ``bodies`` in turn to ``url`` over ``connections`` keep-alive connections (one wrk
    thread) for ``seconds``.

    Raises:
        WrkMissingError: wrk is not installed.
        RuntimeError: wrk failed or printed no figures.
    """
    parts = urlsplit(url)
    with tempfile.TemporaryDirectory(prefix="wrk-") as tmp:
        folder = Path(tmp)
        for i, body in enumerate(bodies, start=1):
            (folder / f"body{i}").write_bytes(body)
        (folder / "post.lua").write_text(LUA_SCRIPT)
        env = {
            "WRK_BODIES": str(len(bodies)),
            "WRK_FOLDER": str(folder),
            "WRK_PATH": parts.path + (f"?{parts.query}" if parts.query else ""),
            "WRK_CONTENT_TYPE": content_type,
        }
        command = [wrk_path(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
        command += [f"--timeout={WRK_TIMEOUT_S}s", "-s", str(folder / "post.lua")]
        command.append(f"{parts.scheme}://{parts.netloc}")
        cpu_before = children_cpu_seconds()
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        cpu = children_cpu_seconds() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(lines[-1])
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkReport(
        connections=connections,
        requests=int(figures["requests"]),
        seconds=figures["duration_us"] / 1e6 or wall,
        p50_ms=figures["p50_us"] / 1000,
        p95_ms=figures["p95_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=int(errors),
        client_cpu_s=cpu,
    )
