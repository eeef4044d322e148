"""A sync never writes the client secret or an access token to logs, state rows, run history or the change feed."""

from __future__ import annotations

import json
import logging

import pytest

from shared import storage_names as names
from tests.integration.sync.conftest import SyncWorld


async def test_no_secret_or_token_leaks_during_a_sync(world: SyncWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="azure.core.pipeline.policies.http_logging_policy")  # the worker quiets it
    for name in ("azure", "httpx", "httpcore", "shared", "msal"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    await world.sync()
    world.entra.control.create_user(world.tid, "Leak", "Check", groups=[world.connection.sync_group_id])
    await world.sync()
    token = await world.tokens.token()  # the bearer token the sync used (cached by the credential)
    secret = next(a for a in world.tenant["apps"] if a["kind"] == "customer")["client_secret"]
    rows = [
        dict(r) async for r in world.tables.query(names.SYNC_STATE, "PartitionKey eq @pk", {"pk": world.connection.id})
    ]
    rows += [
        dict(r) async for r in world.tables.query(names.SYNC_RUNS, "PartitionKey eq @pk", {"pk": world.connection.id})
    ]
    users = await world.stored_users()
    everything = " ".join(
        [
            caplog.text,
            json.dumps(rows, default=str),
            json.dumps(await world.events()),
            json.dumps(list(users.values()), default=str),
        ]
    )
    assert len(caplog.records) > 10, "the logs must actually have been captured"
    assert secret not in everything
    assert token not in everything and token.split(".")[2] not in everything
