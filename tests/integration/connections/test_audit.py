"""The audit trail read back: every admin action of a connection's life (create, credential set and replaced,
update with its field names, verify, manual sync, approve, rotate now, delete) is one row with who, when, what and
the outcome, paged newest first per connection (also after the connection is gone) and deployment-wide; no row
or answer holds a secret. Responses are recorded for the final leak scan (test_zz_no_secret_leaks.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func
import pytest

from emulators.stack import LocalStack
from scripts.cli import main
from shared.composition import Container
from tests.functions.invoke import acall
from tests.integration.connections.conftest import SEEN, call, record_response

WHO = "function-key from 198.51.100.23"


def _req(method: str, url: str, body: Any = None, route: dict[str, str] | None = None, **params: str) -> Any:
    return func.HttpRequest(
        method,
        f"http://localhost:7071/api/{url}",
        body=json.dumps(body).encode() if body is not None else b"",
        params=params,
        route_params=route or {},
        headers={"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.23:50312"},
    )


async def _pages(name: str, route: dict[str, str], top: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"top": str(top)} | ({"continuation": token} if token else {})
        status, page, _ = await call(name, _req("GET", "audit", route=route, **params))
        assert status == 200, page
        rows += page["value"]
        token = page["continuation"]
        if not token or len(rows) > 500:
            return rows


async def test_every_admin_action_is_audited_and_read_back_newest_first(
    stack: LocalStack, container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant, app = stack.tenant, stack.app("customer")
    SEEN.secrets.add(app["client_secret"])
    body = {
        "tenant": tenant["id"],
        "display_name": "Audited",
        "credential_mode": "customer_app",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "sync_group_id": tenant["sync_group"]["id"],
        "allow_second_connection": True,
    }
    status, created, _ = await call("connections_create", _req("POST", "connections", body))
    assert status == 201, created
    cid = created["id"]
    route = {"id": cid}
    url = f"connections/{cid}"
    steps = [
        ("connections_update", _req("PATCH", url, {"display_name": "Audited 2", "deletion_threshold": 30}, route)),
        ("connections_update", _req("PATCH", url, {"client_secret": app["client_secret"]}, route)),
        ("connections_verify", _req("POST", f"{url}/verify", route=route)),
        ("sync_start", _req("POST", f"{url}/sync", route=route, mode="groups")),
        ("rotate_connection", _req("POST", f"{url}/rotate", route=route)),  # rotation is off: 409, nothing done
        ("sync_approve", _req("POST", f"{url}/sync/approve", route=route)),  # nothing held: 400, not an action
    ]
    for name, req in steps:
        record_response(await acall(name, req))
    assert await asyncio.to_thread(main, ["connections", "update", cid, "--display-name", "From the CLI"]) == 0
    SEEN.texts.extend(capsys.readouterr())
    status, deleted, _ = await call("connections_delete", _req("DELETE", url, route=route))
    assert status == 200, deleted

    rows = await _pages("connection_audit", route, 100)
    assert [r["action"] for r in rows] == [
        "connection.delete",
        "connection.update",
        "sync.start",
        "connection.verify",
        "credential.replaced",
        "connection.update",
        "connection.update",
        "credential.set",
        "connection.create",
    ]
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows), reverse=True)
    for row in rows:
        assert row["connection_id"] == cid and row["at"] and row["outcome"], row
    who = {r["action"] + ":" + r["detail"][:20]: r["who"] for r in rows}
    assert set(who.values()) - {WHO} == {rows[1]["who"]} and rows[1]["who"].startswith("cli")
    by_action = {r["action"]: r for r in reversed(rows)}  # the latest of each
    assert by_action["sync.start"]["outcome"] == "queued" and "groups" in by_action["sync.start"]["detail"]
    assert by_action["connection.verify"]["outcome"] in ("pass", "warn")
    assert "Key Vault version" in by_action["credential.replaced"]["detail"]
    assert rows[-3]["detail"] == "changed: deletion_threshold, display_name"
    assert rows[-4]["detail"] == "changed: client_secret"  # the field's name; its value is never recorded

    assert await _pages("connection_audit", route, 2) == rows  # the same rows, page by page
    everything = await _pages("audit_all", {}, 50)
    ours = [r for r in everything if r["connection_id"] == cid]
    assert ours == rows
    assert [r["at"] for r in everything] == sorted((r["at"] for r in everything), reverse=True)

    status, bad, _ = await call("audit_all", _req("GET", "audit", top="0"))
    assert status == 400 and "top" in bad["problems"]
    status, missing, _ = await call("connection_audit", _req("GET", "x", route={"id": "../x"}))
    assert status == 404 and "../x" not in json.dumps(missing)
    assert await asyncio.to_thread(main, ["audit", "list", cid, "--top", "3"]) == 0
    out = capsys.readouterr().out
    SEEN.texts.append(out)
    assert [r["action"] for r in json.loads(out)["value"]] == [r["action"] for r in rows[:3]]
    text = json.dumps(everything)
    assert app["client_secret"] not in text
