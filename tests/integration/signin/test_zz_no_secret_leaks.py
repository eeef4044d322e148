"""Runs last in this package: no response, page, log record, change-feed message or stored row of the sign-in
tests holds a secret: Entra's authorization codes, ID and access tokens, PKCE verifiers, the operator secret,
browser cookies, the state-signing key; and the hand-off codes appear only in the redirect to the product."""

from __future__ import annotations

import base64
import json

from emulators.stack import LocalStack
from shared.composition import Container
from shared.storage_names import TABLES
from tests.integration.connections.conftest import SEEN
from tests.integration.connections.consent_helpers import signing_key
from tests.integration.signin.conftest import HANDOFF_CODES, QUEUED


async def test_no_secret_in_pages_logs_queue_messages_or_tables(stack: LocalStack, container: Container) -> None:
    code_flow = stack.entra.control.issued_secrets()
    assert sum(1 for s in code_flow if s.startswith("1.A")) >= 10, "the sign-in tests signed users in"
    assert len(HANDOFF_CODES) >= 5 and len(QUEUED) >= 5 and len(SEEN.texts) > 50
    key = await signing_key(container)
    secrets = {*SEEN.secrets, *code_flow, base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()}
    stored = [json.dumps(dict(row), default=str) for table in TABLES async for row in container.tables().query(table)]
    for secret in secrets:
        for text in [*SEEN.texts, *stored, *QUEUED]:
            assert secret not in text, "a secret leaked into a response, log record, queue message or table row"
    # a hand-off code is in exactly one place: the Location of the callback's redirect to the product
    not_redirects = [t for t in SEEN.texts if not (t.startswith("{") and '"Location"' in t)]
    for code in HANDOFF_CODES:
        for text in [*not_redirects, *stored, *QUEUED]:
            assert code not in text, "a hand-off code leaked into a page, log record, queue message or table row"
