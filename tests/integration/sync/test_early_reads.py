"""A worker reads an incremental run's delta rounds beside its sync state's read, from the cursor it committed last
(shared/services/sync_start.py); a cursor committed elsewhere, a failed or an unfinished run drops that guess."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from emulators.azurite import Azurite
from shared import storage_names as names
from shared.adapters.graph import GraphClient, RetryPolicy
from shared.adapters.queues import QueueSender
from shared.adapters.sync_state import SyncState
from shared.adapters.table_store import Entity, TableStore
from shared.errors import ConnectorError
from shared.services.directory_sync import SyncDeps, run_sync
from shared.services.sync_start import CursorMemo
from tests.integration.sync.conftest import SyncWorld

STATE_LATE_S = 0.3


class StateAnswersLate(TableStore):
    """Azurite, with the sync state's read answered late (as a busy account may), noting when it is answered."""

    log: list[str]

    async def query_plain(
        self,
        table: str,
        filter: str,
        parameters: Mapping[str, Any],
        select: list[str] | None,
        page_size: int = 1000,
    ) -> AsyncIterator[Entity]:
        rows = [row async for row in super().query_plain(table, filter, parameters, select, page_size)]
        if table == names.SYNC_STATE:
            await asyncio.sleep(STATE_LATE_S)
            self.log.append("state answered")
        for row in rows:
            yield row


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class Worker:
    """One worker process's sync: its memo, and a log of its Graph requests and the sync state's answers, in order."""

    log: list[str]
    graph: GraphClient
    store: StateAnswersLate
    memo: CursorMemo
    queues: QueueSender

    @property
    def deps(self) -> SyncDeps:
        return SyncDeps(self.graph, self.store, self.queues, memo=self.memo)


@pytest.fixture
async def worker(world: SyncWorld, azurite: Azurite) -> AsyncIterator[Worker]:
    log: list[str] = []

    async def note(request: httpx.Request) -> None:
        log.append(f"graph {request.url.path.removeprefix('/v1.0/')}?{request.url.query.decode()}")

    http = httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=world.entra.ca_path), timeout=30, event_hooks={"request": [note]}
    )
    graph = GraphClient(http, world.tokens, world.entra.graph_url, retry=RetryPolicy(sleep=_no_sleep))
    store = StateAnswersLate.from_connection_string(azurite.connection_string)
    assert isinstance(store, StateAnswersLate)
    store.log = log
    try:
        yield Worker(log, graph, store, CursorMemo(), world.queues)
    finally:
        await store.close()
        await http.aclose()


def _delta_requests(log: list[str], resource: str) -> list[str]:
    return [line for line in log if line.startswith(f"graph {resource}/delta")]


def _token(link_or_line: str) -> str:
    return str(parse_qs(urlsplit(link_or_line.split(" ", 1)[-1]).query)["$deltatoken"][0])


async def _in_scope_user(world: SyncWorld) -> str:
    return str(sorted(world.entra.control.ground_truth(world.tid, world.connection.sync_group_id)["users"])[0])


async def test_a_worker_reads_its_deltas_beside_its_sync_state(world: SyncWorld, worker: Worker) -> None:
    log, graph, store, deps = worker.log, worker.graph, worker.store, worker.deps
    assert (await run_sync(deps, world.connection)).mode == "full"
    await world.events()
    uid = await _in_scope_user(world)
    world.entra.control.update_user(world.tid, uid, displayName="Renamed Early")

    log.clear()
    result = await run_sync(deps, world.connection)
    assert result.mode == "incremental" and result.counts == {"user.updated": 1}
    await world.assert_matches_ground_truth()
    assert [e["object_id"] for e in await world.events() if e["type"] == "user.updated"] == [uid]
    deltas = _delta_requests(log, "users") + _delta_requests(log, "groups")
    assert len(deltas) == 2  # each round read once: the early reads were the run's
    answered = log.index("state answered")
    assert all(log.index(line) < answered for line in deltas)  # both sent while the state's read was out

    world.entra.control.update_user(world.tid, uid, displayName="Renamed By A New Worker")
    log.clear()
    fresh = await run_sync(SyncDeps(graph, store, world.queues, memo=CursorMemo()), world.connection)
    assert fresh.counts == {"user.updated": 1}
    answered = log.index("state answered")  # a worker that remembers nothing reads the rounds after the state
    assert all(log.index(line) > answered for line in _delta_requests(log, "users") + _delta_requests(log, "groups"))
    await world.assert_matches_ground_truth()


async def test_a_cursor_another_worker_committed_drops_the_early_reads(world: SyncWorld, worker: Worker) -> None:
    log, memo, deps = worker.log, worker.memo, worker.deps
    assert (await run_sync(deps, world.connection)).mode == "full"
    remembered = memo.get(world.connection.id)
    assert remembered is not None
    uid = await _in_scope_user(world)
    world.entra.control.update_user(world.tid, uid, displayName="Renamed Elsewhere")
    elsewhere = await run_sync(world.deps(memo=CursorMemo()), world.connection)  # another instance of the app
    assert elsewhere.counts == {"user.updated": 1}
    committed = (await SyncState(world.tables, world.connection.id).load()).cursor
    assert committed.users_delta != remembered.users_delta
    world.entra.control.update_user(world.tid, uid, displayName="Renamed Here")

    log.clear()
    result = await run_sync(deps, world.connection)
    assert result.mode == "incremental" and result.counts == {"user.updated": 1}
    users = _delta_requests(log, "users")
    # the early read from the cursor it remembered, dropped; then the read from the cursor it found
    assert [_token(line) for line in users] == [_token(remembered.users_delta), _token(committed.users_delta)]
    await world.assert_matches_ground_truth()
    assert memo.get(world.connection.id) == type(remembered).of(
        (await SyncState(world.tables, world.connection.id).load()).cursor
    )


async def test_a_failed_or_unfinished_run_leaves_nothing_remembered(world: SyncWorld, worker: Worker) -> None:
    log, memo, deps = worker.log, worker.memo, worker.deps
    await run_sync(deps, world.connection)
    assert memo.get(world.connection.id) is not None

    world.entra.control.set_fault("503", rate=1.0, count=1000, path_prefix="/v1.0")
    with pytest.raises(ConnectorError):
        await run_sync(deps, world.connection)
    world.entra.control.clear_faults()
    assert memo.get(world.connection.id) is None  # its cursor may or may not have been committed

    await run_sync(deps, world.connection)
    assert memo.get(world.connection.id) is not None
    continued = await run_sync(deps, world.connection, mode="full", budget_s=0)
    assert continued.outcome == "continued" and memo.get(world.connection.id) is None
    log.clear()
    finished = await run_sync(deps, world.connection, mode="full")
    assert finished.outcome == "succeeded" and memo.get(world.connection.id) is not None
    await world.assert_matches_ground_truth()
