"""``scripts/audit.py`` (``make audit``) judges pip-audit reports: findings fail, no service skips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit.py"
CLEAN = {"name": "numpy", "version": "2.0.0", "vulns": []}
SKIPPED = {"name": "torch", "skip_reason": "Dependency not found on PyPI and could not be audited"}
VULNERABLE = {
    "name": "pillow",
    "version": "9.0.0",
    "vulns": [
        {"id": "PYSEC-2022-168", "fix_versions": ["9.0.1"], "aliases": [], "description": ""}
    ],
}


@pytest.mark.parametrize(
    ("dependencies", "code", "message"),
    [
        ([SKIPPED, SKIPPED], 0, "SKIPPED: pip-audit could audit none of 2 packages"),
        ([], 0, "SKIPPED"),
        ([CLEAN, SKIPPED], 0, "no known vulnerabilities in 1 packages (1 skipped)"),
        ([CLEAN, VULNERABLE, SKIPPED], 1, "pillow 9.0.0: PYSEC-2022-168"),
    ],
)
def test_audit_verdicts(dependencies: list[dict], code: int, message: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": dependencies, "fixes": []}))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--from-json", str(report)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code and message in done.stdout, done.stdout + done.stderr
