"""The CLI runs a sync with a progress display, a dry run, and shows status and run history."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from emulators.stack import LocalStack
from scripts.cli import main


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv), environ=env)
    out, err = capsys.readouterr()
    return code, json.loads(out or err), err


def test_sync_from_the_cli(
    stack: LocalStack, stack_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, app = stack.tenant, stack.app("customer")
    body = {"sync_group_id": tenant["sync_group"]["id"]}
    monkeypatch.setattr("sys.stdin", io.StringIO(app["client_secret"] + "\n"))  # a secret never goes in --json
    code, created, _ = run(
        capsys,
        stack_env,
        "connections",
        "create",
        "--tenant",
        tenant["id"],
        "--display-name",
        "CLI sync",
        "--credential-mode",
        "customer_app",
        "--client-id",
        app["client_id"],
        "--json",
        json.dumps(body),
        "--secret-stdin",
    )
    assert code == 0, created
    cid = created["id"]
    truth = stack.entra.control.ground_truth(tenant["id"])

    code, planned, _ = run(capsys, stack_env, "sync", "run", cid, "--mode", "full", "--dry-run")
    assert code == 0 and planned["outcome"] == "dry_run"
    assert planned["counts"]["user.created"] == len(truth["users"])

    code, result, progress = run(capsys, stack_env, "sync", "run", cid, "--mode", "full")
    assert code == 0 and result["outcome"] == "succeeded", result
    assert result["counts"]["user.created"] == len(truth["users"])
    assert "Graph requests" in progress and "table writes" in progress

    code, status, _ = run(capsys, stack_env, "sync", "status", cid)
    assert code == 0 and status["state"] == "idle" and status["last_success_at"]
    code, runs, _ = run(capsys, stack_env, "sync", "runs", cid)
    assert code == 0 and [(r["mode"], r["outcome"]) for r in runs["runs"]] == [
        ("full", "succeeded"),
        ("full", "dry_run"),
    ]
    code, trail, _ = run(capsys, stack_env, "audit", "list", cid)
    synced = [(r["action"], r["outcome"]) for r in trail["value"] if r["action"] == "sync.start"]
    assert synced == [("sync.start", "succeeded"), ("sync.start", "dry_run")]
    assert all(r["who"].startswith("cli") for r in trail["value"])
    code, missing, _ = run(capsys, stack_env, "sync", "status", "no-such-connection")
    assert code == 1 and missing["code"] == "not_found"
    assert app["client_secret"] not in json.dumps([created, planned, result, status, runs]) + progress
    run(capsys, stack_env, "connections", "delete", cid, "--purge")
