"""Atomic file writes: write a temporary sibling, fsync, then rename over the target."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    On any error the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the final file normal permissions
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(target: str | Path, writer: Callable[[IO[Any]], None], mode: str = "wb") -> None:
    """Call ``writer(handle)`` on a temporary file, then move it over ``target``."""
    with atomic_path(target) as tmp:
        with open(tmp, mode) as handle:
            writer(handle)


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write text atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_torch_save(obj: Any, target: str | Path) -> None:
    """``torch.save`` atomically."""
    import torch  # lazily: serving code uses this module without torch

    with atomic_path(target) as tmp:
        torch.save(obj, tmp)
