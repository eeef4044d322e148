"""The CLI drives the same services: create, list, show, update, consent-url, verify and delete a connection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulators.stack import LocalStack
from scripts.cli import environment, main
from tests.integration.connections.conftest import SEEN


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv), environ=env)
    out, err = capsys.readouterr()
    SEEN.texts.extend([out, err])
    return code, json.loads(out or err)


def test_cli_round_trip(stack: LocalStack, stack_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    tenant = stack.entra.tenants[1]
    code, created = run(
        capsys,
        stack_env,
        "connections",
        "create",
        "--tenant",
        tenant["domains"][1],
        "--display-name",
        "From the CLI",
        "--credential-mode",
        "admin_consent",
        "--sync-group-id",
        tenant["sync_group"]["id"],
    )
    assert code == 0 and created["tenant_id"] == tenant["id"]
    cid = created["id"]
    code, listed = run(capsys, stack_env, "connections", "list")
    assert code == 0 and cid in [c["id"] for c in listed]
    code, updated = run(capsys, stack_env, "connections", "update", cid, "--rotation-interval-days", "14")
    assert code == 0 and updated["rotation_interval_days"] == 14
    code, url = run(capsys, stack_env, "connections", "consent-url", cid)
    assert code == 0 and "/adminconsent?" in url["url"]
    code, problem = run(capsys, stack_env, "connections", "update", cid, "--json", '{"bogus": 1}')
    assert code == 1 and "bogus" in problem["problems"]
    code, deleted = run(capsys, stack_env, "connections", "delete", cid, "--purge")
    assert code == 0 and deleted["deleted"] is True
    code, missing = run(capsys, stack_env, "connections", "show", cid)
    assert code == 1 and missing["code"] == "not_found"


def test_environment_reads_local_settings(tmp_path: Any) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"A": "from-file", "B": "from-file"}}))
    assert environment(str(path), {"A": "from-env"}) == {"A": "from-env", "B": "from-file"}
