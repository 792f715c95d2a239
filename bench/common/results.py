"""Record a benchmark's figures in bench/RESULTS.md: one section per script, replaced on rerun."""

from __future__ import annotations

import argparse
import fcntl
import json
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parents[1] / "RESULTS.md"
REPO = RESULTS.parents[1]
HEADER = "# Benchmark results\n\nEach section is rewritten by the script named in it; figures come from one run.\n"


def machine() -> str:
    """A one-line description of where the figures were measured."""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}, torch {torch.__version__}"


def record(name: str, body: str, command: list[str] | None = None) -> None:
    """Replace (or add) the section ``name`` with ``body`` plus the command and machine."""
    argv = list(command if command is not None else sys.argv)
    if argv and Path(argv[0]).is_absolute() and Path(argv[0]).is_relative_to(REPO):
        argv[0] = str(Path(argv[0]).relative_to(REPO))  # the command as run from the repo root
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- begin {name} -->\n## {name}\n\n"
        f"Command: `{shlex.join(['python', *argv])}`  \nMeasured {stamp} on {machine()}.\n\n"
        f"{body.strip()}\n<!-- end {name} -->\n"
    )
    RESULTS.touch(exist_ok=True)
    with open(RESULTS, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        text = handle.read() or HEADER
        begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->\n"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            text = head + section + rest.split(end, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + section
        handle.seek(0)
        handle.truncate()
        handle.write(text)


def report(table: str, result: dict[str, Any], section: str, no_record: bool) -> int:
    """A benchmark's ending: print its table, record it (unless ``no_record``), print the JSON."""
    print(table)
    if not no_record:
        record(section, table)
    print(json.dumps(result))
    return 0


def add_gallery_args(parser: argparse.ArgumentParser) -> None:
    """The options of benchmarks that index a generated JPEG gallery with a timm ViT."""
    parser.add_argument("--arch", default="vit_tiny_patch16_224")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--images", type=int, default=384, help="gallery JPEGs")
    parser.add_argument("--photo-size", default="500x375", help="gallery image WIDTHxHEIGHT")
