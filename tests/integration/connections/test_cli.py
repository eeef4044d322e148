"""The CLI drives the same services: create, list, show, update, consent-url, invite, revoke-invite, verify and
delete a connection."""

from __future__ import annotations

import io
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
    code, invited = run(capsys, stack_env, "connections", "invite", cid, "--days", "3")
    assert code == 0 and "/api/consent/invite/" in invited["url"] and invited["connection_id"] == cid
    code, problem = run(capsys, stack_env, "connections", "invite", cid, "--days", "31")
    assert code == 1 and "expires_in_days" in problem["problems"]
    code, revoked = run(capsys, stack_env, "connections", "revoke-invite", cid, invited["id"])
    assert code == 0 and revoked["state"] == "revoked"
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


def _customer_app_args(stack: LocalStack) -> list[str]:
    tenant, app = stack.tenant, stack.app("customer")
    return [
        "--tenant",
        tenant["id"],
        "--display-name",
        "CLI secrets",
        "--credential-mode",
        "customer_app",
        "--client-id",
        app["client_id"],
        "--allow-second-connection",
    ]


def test_a_secret_inside_json_is_refused_pointing_to_the_prompt(
    stack: LocalStack, stack_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    secret = stack.app("customer")["client_secret"]
    SEEN.secrets.add(secret)
    body = json.dumps({"client_secret": secret})
    code, problem = run(capsys, stack_env, "connections", "create", *_customer_app_args(stack), "--json", body)
    assert code == 1 and "--prompt-secret" in problem["problems"]["client_secret"]
    assert secret not in json.dumps(problem)
    code, listed = run(capsys, stack_env, "connections", "list")
    assert code == 0 and not [c for c in listed if c["display_name"] == "CLI secrets"]  # nothing was created
    code, problem = run(
        capsys, stack_env, "connections", "update", "0" * 8 + "-0000-0000-0000-" + "0" * 12, "--json", body
    )
    assert code == 1 and "client_secret" in problem["problems"]
    pem = json.dumps({"certificate": "-----BEGIN PRIVATE KEY-----"})
    code, problem = run(capsys, stack_env, "connections", "create", *_customer_app_args(stack), "--json", pem)
    assert code == 1 and "--certificate-file" in problem["problems"]["certificate"]


def test_a_secret_is_taken_from_standard_input(
    stack: LocalStack, stack_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = stack.app("customer")["client_secret"]
    SEEN.secrets.add(secret)
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    code, created = run(capsys, stack_env, "connections", "create", *_customer_app_args(stack), "--secret-stdin")
    assert code == 0, created
    assert created["credential"]["set"] is True and created["credential"]["hint"] == f"...{secret[-3:]}"
    code, report = run(capsys, stack_env, "connections", "verify", created["id"])
    assert code == 0 and report["status"] in ("pass", "warn"), report  # the piped secret is the one Entra takes
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, problem = run(capsys, stack_env, "connections", "update", created["id"], "--secret-stdin")
    assert code == 1 and "--secret-stdin" in problem["problems"]
    run(capsys, stack_env, "connections", "delete", created["id"])
