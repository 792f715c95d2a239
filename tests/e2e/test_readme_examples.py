"""Every ``curl`` example in the README's Serve section runs as written against ``make demo``.

The demo (``scripts/demo.sh``) starts on a free port with a known admin key; the README's block is
run by bash with ``localhost:8000`` pointed at that port and ``curl`` failing on any HTTP error.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from harness.demo_process import running_demo

REPO = Path(__file__).resolve().parents[2]
KEY = "readme-test-key"


def serve_examples() -> str:
    """The bash block of the README that follows the words 'Against `make demo`'."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text.split("Against `make demo`", 1)[1]
    return re.search(r"```bash\n(.*?)```", after, re.S).group(1)  # type: ignore[union-attr]


def test_the_block_is_found_and_covers_every_route() -> None:
    block = serve_examples()
    for route in (
        "/search?",
        "/search/batch",
        "/similar",
        "/items?",
        "/image",
        "/overlay",
        "/admin",
    ):
        assert route in block, route


@pytest.mark.slow
def test_readme_examples_run_against_the_demo(tmp_path: Path) -> None:
    env = {**os.environ, "LODISC_API_KEY": KEY}
    with running_demo(tmp_path / "work", {"LODISC_API_KEY": KEY}) as api:
        (tmp_path / "data").symlink_to(REPO / "data")
        script = 'set -euo pipefail\ncurl() { command curl -sSf -o /dev/null "$@"; }\n'
        script += serve_examples().replace("localhost:8000", f"127.0.0.1:{api}")
        run = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
