"""Credential updates through the real functions against Azurite and the Key Vault emulator: concurrent PATCHes of
a connection's secret leave the row and the credential used for a token describing the same secret, every time;
losers' versions are disabled; a secret <-> certificate switch keeps working both ways."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulators.stack import LocalStack
from scripts import host
from shared.composition import Container
from shared.domain.connection import Connection
from shared.services.connections import load

RACERS = 5
ROUNDS = 3


@pytest.fixture
async def connection(stack: LocalStack, stack_env: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    tenant, app = stack.tenant, stack.app("customer")
    body = {
        "display_name": "Credential races",
        "tenant": tenant["id"],
        "credential_mode": "customer_app",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "sync_group_id": tenant["sync_group"]["id"],
    }
    status, created, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert status == 201, created
    yield dict(created)
    cid = str(created["id"])
    await host.http("connections_delete", "DELETE", f"/api/connections/{cid}?purge=true", route={"id": cid})


async def _patch(cid: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, answer, _ = await host.http(
        "connections_update", "PATCH", f"/api/connections/{cid}", body=body, route={"id": cid}
    )
    return int(status), answer


async def _material(cid: str) -> tuple[Connection, str]:
    """The row, and the credential every reader (sync, rotation, verification) would sign in with."""
    async with Container.from_env() as container:
        row, _ = await load(container, cid)
        _, material = await container._credential_material(row)
    return row, material


async def _verify(cid: str) -> dict[str, Any]:
    status, report, _ = await host.http(
        "connections_verify", "POST", f"/api/connections/{cid}/verify", route={"id": cid}
    )
    assert status == 200, report
    return {c["name"]: c for c in report["checks"]}


async def test_concurrent_secret_updates_leave_row_and_vault_on_one_credential(
    stack: LocalStack, connection: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    used: list[str] = []
    cid, control = str(connection["id"]), stack.entra.control
    client_id = stack.app("customer")["client_id"]
    lost = 0
    for round_no in range(ROUNDS):
        values = [f"Race~{uuid.uuid4().hex}~{round_no}{i:02d}" for i in range(RACERS)]  # distinct last 3 characters
        added = [control.add_secret(client_id, expires_in_s=3600, value=v) for v in values]
        answers = await asyncio.gather(*(_patch(cid, {"client_secret": v}) for v in values))
        used += values
        statuses = sorted(s for s, _ in answers)
        assert 200 in statuses and set(statuses) <= {200, 409}, answers
        assert all(a["code"] == "concurrency_conflict" for s, a in answers if s == 409)

        row, material = await _material(cid)
        assert row.credential is not None
        assert material in values and row.credential.hint == material[-3:], "row and credential disagree"
        winners = [v for (s, _), v in zip(answers, values, strict=True) if s == 200]
        assert material in winners
        # only the row's credential can sign in now: the token proves which secret readers use
        for secret, value in zip(added, values, strict=True):
            if value != material:
                control.remove_secret(client_id, secret["key_id"])
        assert (await _verify(cid))["token"]["status"] == "pass"
        lost += statuses.count(409)
        async with Container.from_env() as container:
            versions = await container.secrets().versions(row.credential.secret_name)
        assert row.credential.version in {v.version for v in versions if v.enabled}
        assert len([v for v in versions if not v.enabled]) == lost, "each losing version is disabled, no other"
        for secret in added:
            control.remove_secret(client_id, secret["key_id"])
        seen = caplog.text + json.dumps(answers)
        assert not [v for v in used if v in seen], "a secret leaked into a log line or a response"


async def test_switching_between_secret_and_certificate_both_ways(
    stack: LocalStack, connection: dict[str, Any]
) -> None:
    cid, app = str(connection["id"]), stack.app("customer")
    pem = Path(app["certificate_path"]).read_text()  # noqa: ASYNC240 (a small local file)
    status, updated = await _patch(cid, {"certificate": pem})
    assert status == 200 and updated["credential"]["kind"] == "certificate", updated
    assert (await _verify(cid))["token"]["status"] == "pass"
    status, updated = await _patch(cid, {"client_secret": app["client_secret"]})
    assert status == 200 and updated["credential"]["kind"] == "secret", updated
    assert (await _verify(cid))["token"]["status"] == "pass"
    status, updated = await _patch(cid, {"certificate": pem})
    assert status == 200 and updated["credential"]["kind"] == "certificate", updated
    row, material = await _material(cid)
    assert material.lstrip().startswith("-----BEGIN") and row.credential is not None
    assert (await _verify(cid))["token"]["status"] == "pass"


async def _secret_versions(cid: str) -> list[tuple[str, bool]]:
    from shared.domain.secret_names import client_cert_name, client_secret_name
    from shared.errors import SecretNotFound

    found: list[tuple[str, bool]] = []
    async with Container.from_env() as container:
        for name in (client_secret_name(cid), client_cert_name(cid)):
            try:
                found += [(v.version, v.enabled) for v in await container.secrets().versions(name)]
            except SecretNotFound:
                continue
    return found


@pytest.mark.parametrize("kind", ["ec", "other_key"])
async def test_a_certificate_entra_cannot_use_is_refused_at_create_and_update(
    stack: LocalStack, connection: dict[str, Any], kind: str
) -> None:
    from tests.support.certificates import pem

    material = pem("ec") if kind == "ec" else pem(other_key=True)
    reason = "RSA key of at least 2048 bits" if kind == "ec" else "does not match the certificate"
    cid, app = str(connection["id"]), stack.app("customer")
    before, vault_before = await _material(cid), await _secret_versions(cid)
    status, refused = await _patch(cid, {"certificate": material, "rotation_interval_days": 9})
    assert status == 400 and refused["code"] == "validation_error", refused
    assert reason in refused["problems"]["certificate"]
    assert await _material(cid) == before and await _secret_versions(cid) == vault_before  # nothing changed

    tenant = stack.entra.tenants[1]
    body = {
        "display_name": "Refused certificate",
        "tenant": tenant["id"],
        "credential_mode": "customer_app",
        "client_id": stack.app("customer", tenant)["client_id"],
        "certificate": material,
    }
    status, refused, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert status == 400 and reason in refused["problems"]["certificate"], refused
    _, listed, _ = await host.http("connections_list", "GET", "/api/connections")
    assert tenant["id"] not in {c["tenant_id"] for c in listed["value"]}
    assert app["client_secret"] not in str(refused)
