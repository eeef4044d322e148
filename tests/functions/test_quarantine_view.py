"""A quarantined connection says so wherever its state is shown (GET one, the list, the sync status, the CLI's
show): until when and why, from the same status record the scheduler obeys; it disappears once the time passes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from emulators.stack import LocalStack
from scripts import host
from scripts.cli import main
from shared.adapters.sync_state import SyncState
from shared.composition import Container
from shared.domain.timestamps import utc_now
from shared.errors import TransientError
from shared.services.sync_jobs import record_failure


async def _connection(stack: LocalStack) -> str:
    body = {"display_name": "Quarantine", "tenant": stack.tenant["id"], "credential_mode": "admin_consent"}
    status, created, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert status == 201, created
    assert created["quarantined"] is False and created.get("quarantine") is None
    return str(created["id"])


async def _fail(cid: str, times: int) -> None:
    async with Container.from_env() as container:
        for _ in range(times):
            await record_failure(SyncState(container.tables(), cid), TransientError("Graph answered 503 (throttled)"))


async def _show(cid: str) -> dict[str, Any]:
    status, shown, _ = await host.http("connections_get", "GET", f"/api/connections/{cid}", route={"id": cid})
    assert status == 200, shown
    return dict(shown)


async def test_a_quarantined_connection_shows_until_when_and_why(
    stack: LocalStack, stack_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cid = await _connection(stack)
    await _fail(cid, 2)
    assert (await _show(cid))["quarantine"] is None  # two failures: not quarantined yet
    await _fail(cid, 1)
    shown = await _show(cid)
    assert shown["state"] == "pending_consent" and shown["quarantined"] is True
    quarantine = shown["quarantine"]
    assert quarantine["reason"] == "transient: Graph answered 503 (throttled)"
    assert quarantine["consecutive_failures"] == 3 and quarantine["until"] > utc_now().isoformat()[:19]
    status, listed, _ = await host.http("connections_list", "GET", "/api/connections")
    assert [c["quarantine"] for c in listed["value"] if c["id"] == cid] == [quarantine]
    status, sync, _ = await host.http("sync_status", "GET", f"/api/connections/{cid}/status", route={"id": cid})
    assert status == 200 and sync["quarantine"] == quarantine
    assert await asyncio.to_thread(main, ["connections", "show", cid]) == 0
    assert '"quarantined": true' in capsys.readouterr().out

    async with Container.from_env() as container:  # the quarantine's time has passed
        state = SyncState(container.tables(), cid)
        current = await state.status()
        current.retry_after = utc_now() - timedelta(minutes=1)
        await state.save_status(current)
    assert (await _show(cid))["quarantine"] is None
