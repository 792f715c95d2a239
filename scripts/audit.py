"""``make audit``: pip-audit of the installed packages against PyPI's vulnerability data.

A known vulnerability fails (exit 1) unless ignored with ``--ignore-vuln ID`` (the Makefile says
why for each). Where no vulnerability service answers (a network that reaches package mirrors
only: pypi.org's per-version JSON is then missing, OSV unresolvable), pip-audit skips every
package or fails to connect; that prints one ``SKIPPED`` line and passes, so CI never fails or
hangs for want of a network. ``--from-json FILE`` judges a saved pip-audit report instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

AUDIT_TIMEOUT_S = 180  # the whole run; each request has pip-audit's own --timeout
REQUEST_TIMEOUT_S = 15
# What pip-audit's traceback says when it cannot reach the service (requests/urllib3 wording).
NETWORK_ERRORS = ("ConnectionError", "NameResolutionError", "Max retries exceeded", "timed out")


class AuditError(RuntimeError):
    """pip-audit failed for another reason than the network."""


def run_pip_audit(ignores: list[str]) -> dict[str, Any] | str:
    """pip-audit's JSON report, or why the network gave none.

    Raises:
        AuditError: pip-audit failed otherwise (a bad flag, a broken environment).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "--vulnerability-service", "pypi"]
        command += ["--format", "json", "--output", str(out), "--progress-spinner", "off"]
        command += ["--skip-editable", "--timeout", str(REQUEST_TIMEOUT_S)]
        command += [arg for vuln in ignores for arg in ("--ignore-vuln", vuln)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return f"pip-audit took over {AUDIT_TIMEOUT_S} s"
        if out.is_file():
            return json.loads(out.read_text())
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if any(marker in done.stderr for marker in NETWORK_ERRORS):
            return f"no vulnerability service reachable ({last[:200]})"
        raise AuditError(f"pip-audit exited {done.returncode} without a report: {last}")


def judge(report: dict[str, Any]) -> tuple[int, str]:
    """Exit code and message: 1 on findings, 0 when clean or when nothing could be audited."""
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        return 0, (
            f"SKIPPED: pip-audit could audit none of {len(dependencies)} packages (no "
            "vulnerability service reachable from here); nothing was checked"
        )
    findings = [f"{d['name']} {d['version']}: {v['id']}" for d in audited for v in d["vulns"]]
    if findings:
        return 1, "known vulnerabilities:\n" + "\n".join(findings)
    skipped = len(dependencies) - len(audited)
    return 0, f"pip-audit: no known vulnerabilities in {len(audited)} packages ({skipped} skipped)"


def main(argv: list[str] | None = None) -> int:
    """Run (or read) the audit, print the verdict, return its exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ignore-vuln", action="append", default=[], metavar="ID")
    parser.add_argument("--from-json", type=Path, help="judge this pip-audit JSON report")
    args = parser.parse_args(argv)
    try:
        report = (
            json.loads(args.from_json.read_text())
            if args.from_json
            else run_pip_audit(args.ignore_vuln)
        )
    except AuditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if isinstance(report, str):
        print(f"SKIPPED: {report}")
        return 0
    code, message = judge(report)
    print(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
