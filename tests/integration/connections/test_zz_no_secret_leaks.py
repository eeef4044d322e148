"""Runs last in this package: no response, log record or stored entity of the suite holds a secret it used."""

from __future__ import annotations

import json

from shared.composition import Container
from shared.storage_names import TABLES
from tests.integration.connections.conftest import SEEN


async def test_no_secret_in_responses_logs_or_tables(container: Container) -> None:
    assert len(SEEN.secrets) >= 3 and len(SEEN.texts) > 20  # the other modules ran and were recorded
    stored = [json.dumps(dict(row), default=str) for table in TABLES async for row in container.tables().query(table)]
    for secret in SEEN.secrets:
        for text in [*SEEN.texts, *stored]:
            assert secret not in text, "a secret leaked into a response, log record or table row"
