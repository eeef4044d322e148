"""Runs checkov (from its own venv, .venv-checkov) over a copy of infra/ and returns its JSON report."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.bicep import REPO

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
MISSING = (
    f"{CHECKOV} is missing: run `make infra-tools` (installs requirements-infra.txt into .venv-checkov). "
    "The infra checks never skip."
)


@dataclass(frozen=True)
class Report:
    """checkov's findings for one directory: check results by outcome, and files it could not parse."""

    passed: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    parsing_errors: list[str]
    summary: dict[str, Any]

    def ids(self, outcome: str) -> set[tuple[str, str]]:
        """{(check id, resource)} for 'passed', 'failed' or 'skipped'."""
        return {(r["check_id"], r["resource"]) for r in getattr(self, outcome)}


def start(infra: Path) -> subprocess.Popen[str]:
    """Start one scan; --skip-download keeps it offline (without it checkov waits ~25 s on the network)."""
    command = [
        str(CHECKOV),
        "--directory",
        str(infra),
        "--framework",
        "bicep",
        "--external-checks-dir",
        str(infra / "policies"),
        "--skip-download",
        "--output",
        "json",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_"))}
    env["LOG_LEVEL"] = "WARNING"
    return subprocess.Popen(
        command, cwd=infra.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> Report:
    stdout, stderr = process.communicate(timeout=timeout)
    # exit code 1 only means "failed checks": both 0 and 1 carry a report; anything else is a crash
    assert process.returncode in (0, 1), f"checkov crashed ({process.returncode}): {stderr[-2000:]}"
    data = json.loads(stdout)
    reports = data if isinstance(data, list) else [data]
    (report,) = [r for r in reports if r.get("check_type") == "bicep"] or [{"results": {}, "summary": {}}]
    results = report.get("results", {})
    summary = report.get("summary", {})
    return Report(
        passed=results.get("passed_checks", []),
        failed=results.get("failed_checks", []),
        skipped=results.get("skipped_checks", []),
        parsing_errors=list(results.get("parsing_errors", [])),
        summary=summary,
    )
