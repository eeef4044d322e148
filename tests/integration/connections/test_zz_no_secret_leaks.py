"""Runs last in this package: no response, log record or stored entity of the suite holds a secret it used: client
secrets, the consent flow's authorization codes, ID and access tokens, PKCE verifiers, browser cookies and the
state-signing key."""

from __future__ import annotations

import base64
import json

from emulators.stack import LocalStack
from shared.composition import Container
from shared.storage_names import TABLES
from tests.integration.connections.conftest import SEEN
from tests.integration.connections.consent_helpers import signing_key


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
