"""Fault-injection primitives for tests/reliability/ and bench/faults.py.

``kill -9`` of a child process at a moment chosen by polling its progress on disk (optionally
freezing it with SIGSTOP while looking, so what was seen is what it is killed in), damaged files,
and a full disk: a small tmpfs (needs root) filled to a chosen number of free bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.random_model import export_random_model
from lodisc.config import tiny_encoder_config

REPO = Path(__file__).resolve().parents[1]
# The tests' tiny ViT (tests/conftest.py tiny_encoder_cfg): milliseconds per batch on a CPU.
TINY_ENCODER = tiny_encoder_config()
POLL_S = 0.002  # progress polling period; a tiny-model batch takes a few milliseconds
FREEZE_POLL_S = 0.0005  # running time granted between two looks at a frozen process


class TmpfsUnavailableError(RuntimeError):
    """A tmpfs cannot be mounted here (not root, or no CAP_SYS_ADMIN in this container)."""


def export_tiny_model(out_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """A random-init tiny encoder: (checkpoint.pt, model.onnx) in ``out_dir`` (no training)."""
    return export_random_model(TINY_ENCODER, out_dir, seed)


def write_noise_images(folder: Path, count: int, seed: int, size: int = 32) -> list[Path]:
    """``count`` random RGB PNGs named ``0000.png``..., reproducible from ``seed``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        paths.append(folder / f"{i:04d}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def python_command(script: str, *args: str | Path) -> list[str]:
    """``python REPO/script args...`` with this interpreter."""
    return [sys.executable, str(REPO / script), *map(str, args)]


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group, stdout and stderr to ``log``."""
    with open(log, "wb") as handle:
        return subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_when(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    near: Callable[[], bool] | None = None,
    delay_s: float = 0.0,
    timeout_s: float = 120.0,
) -> bool:
    """SIGKILL the process group once ``ready()`` holds (then ``delay_s`` later).

    Once ``near()`` holds, the process is stopped (SIGSTOP) while ``ready`` looks, so a moment
    seen (a temporary file that exists) is the moment it dies in; before that, and without
    ``near``, it runs freely between looks. Returns False when the process ended or
    ``timeout_s`` passed before ``ready`` held (it is killed all the same).
    """
    deadline = time.monotonic() + timeout_s
    hit = frozen = False
    while process.poll() is None and time.monotonic() < deadline:
        frozen = near is not None and (frozen or near())
        if frozen:
            _signal(process, signal.SIGSTOP)
        if ready():
            hit = True
            break
        if frozen:
            _signal(process, signal.SIGCONT)
        time.sleep(FREEZE_POLL_S if frozen else POLL_S)
    if hit and delay_s > 0:
        _signal(process, signal.SIGCONT)
        time.sleep(delay_s)
    _signal(process, signal.SIGKILL)
    process.wait()
    return hit


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the process group of a child started by :func:`start` (gone already: no-op)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def count_rows(db: Path, table: str) -> int:
    """Rows in ``table`` of a SQLite file another process may be writing (0 if not there yet)."""
    if not db.is_file():
        return 0
    try:
        with closing(sqlite3.connect(db, timeout=5)) as con:
            return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def truncate(path: Path, keep_fraction: float = 0.5) -> None:
    """Cut ``path`` to a fraction of its size, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def flip_bit(path: Path) -> None:
    """Flip one bit in the middle of ``path``, as failing storage or memory would."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def scramble(path: Path, offset: int, count: int, seed: int = 0) -> None:
    """Overwrite ``count`` bytes at ``offset`` with seeded random bytes."""
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(seed).integers(0, 256, count, dtype=np.uint8).tobytes()
    data[offset : offset + count] = noise
    path.write_bytes(bytes(data))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def temp_leftovers(folder: Path) -> list[str]:
    """Names of atomic-write temporaries and staging folders (``.name.tmp``) under ``folder``."""
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob(".*") if p.name.endswith(".tmp")
    )


@contextmanager
def tmpfs(mount_point: Path, size: str = "2m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``mount_point`` for the block, then unmount it.

    Raises:
        TmpfsUnavailableError: mounting is not permitted here (the message says why).
    """
    mount_point.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        raise TmpfsUnavailableError("no mount command on this machine")
    command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = done.stderr.strip() or f"exit code {done.returncode}"
        raise TmpfsUnavailableError(f"cannot mount a tmpfs ({' '.join(command)}): {reason}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill_disk(folder: Path, leave_bytes: int = 0) -> Path:
    """Write a filler file in ``folder`` until at most ``leave_bytes`` stay free; returns it."""
    filler = folder / "filler.bin"
    chunk = 4096
    with open(filler, "wb", buffering=0) as handle:
        try:
            while shutil.disk_usage(folder).free > leave_bytes + chunk:
                handle.write(b"\0" * chunk)
            while shutil.disk_usage(folder).free > leave_bytes:
                handle.write(b"\0" * 512)
        except OSError:
            pass  # the disk filled up before the target: it is full, as wanted
    return filler


@dataclass
class FullDiskRun:
    """A CLI run on a full disk, then again once space is freed."""

    free_bytes: int  # when the run started
    exit_code: int
    message: str  # its ``error:`` line
    previous_unchanged: bool  # the files of the previous result are byte-identical
    leftovers: list[str]  # temporary files left behind
    recovered: bool  # the rerun after freeing space succeeded


def run_cli(main: Any, argv: list[str]) -> tuple[int, str]:
    """Call a CLI's ``main(argv)`` in this process: (exit code, its ``error:`` line)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, _last_error(stderr.getvalue())


def _last_error(stderr: str) -> str:
    """The ``error: ...`` line of a CLI's stderr (or its last line)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or [""])[-1]
