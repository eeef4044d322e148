"""Runs last in this package: no response, log record or stored entity of the suite holds a secret it used: client
secrets, the consent flow's authorization codes, ID and access tokens, PKCE verifiers, browser cookies and the
state-signing key. The audit log is read through its API too (every page), and every row names who, when, what
and the outcome."""

from __future__ import annotations

import base64
import json

from emulators.stack import LocalStack
from shared.composition import Container
from shared.storage_names import AUDIT, TABLES
from tests.integration.connections.conftest import SEEN, call, request
from tests.integration.connections.consent_helpers import signing_key


async def _read_the_audit_api() -> int:
    """Every page of GET /api/audit, recorded for the scan below; the number of rows read."""
    read, token = 0, ""
    while True:
        params = {"top": "100"} | ({"continuation": token} if token else {})
        status, page, _ = await call("audit_all", request("GET", "audit", params=params))
        assert status == 200, page
        read += len(page["value"])
        token = page["continuation"]
        if not token:
            return read


async def test_the_audit_log_names_who_when_what_and_outcome(container: Container) -> None:
    rows = [dict(r) async for r in container.tables().query(AUDIT, "PartitionKey eq @pk", {"pk": "all"})]
    assert len(rows) > 20 and await _read_the_audit_api() >= len(rows)
    for row in rows:
        assert row["who"] and row["at"] and row["action"] and row["result"], row
    actions = {r["action"] for r in rows}
    assert {"connection.create", "connection.update", "connection.delete", "connection.verify"} <= actions
    assert {"credential.set", "consent.callback", "consent.signin"} <= actions
    signed_in = [r for r in rows if r["action"] == "consent.signin" and r["result"] == "ok"]
    assert signed_in and all(r["who"].startswith("administrator ") for r in signed_in)


async def test_no_secret_in_responses_logs_or_tables(stack: LocalStack, container: Container) -> None:
    code_flow = stack.entra.control.issued_secrets()  # codes, ID tokens, access tokens, verifiers of the sign-ins
    assert sum(1 for s in code_flow if s.startswith("1.A")) >= 5, "the consent tests signed administrators in"
    assert sum(1 for s in code_flow if s.count(".") == 2) >= 10, "ID and access tokens were issued"
    key = await signing_key(container)
    secrets = {*SEEN.secrets, *code_flow, base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()}
    assert len(SEEN.secrets) >= 5 and len(SEEN.texts) > 20  # the other modules ran and were recorded
    stored = [json.dumps(dict(row), default=str) for table in TABLES async for row in container.tables().query(table)]
    for secret in secrets:
        for text in [*SEEN.texts, *stored]:
            assert secret not in text, "a secret leaked into a response, log record or table row"
