"""The short, fixed-seed form of the reliability suite (part of `make test`; `make chaos` is the long one): two
rounds of faults, kills and restarts over the local stack hold every invariant. Then tests of the suite itself:
each invariant check reports a violation when its invariant is broken on purpose between the runs and the check
(a corrupted stored row, deleted change-feed messages, a pending Key Vault version left, an overlapping run, a
leaked secret or token), so a passing short form means something."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from emulators.stack import LocalStack, start_local_stack
from scripts.chaos.report import page, render
from scripts.chaos.storage import Storage
from scripts.chaos.suite import Suite
from scripts.chaos.world import throwaway_connection
from shared import storage_names as names
from shared.adapters.sync_state import iso
from shared.domain import rotation as rules
from shared.domain.secret_names import password_name
from shared.domain.timestamps import utc_now

SEED = "short-2"  # fixed: make test sees the same schedules every time (scripts/chaos/plan.py)
ROUNDS = 2
ROUND_S = 10.0


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Storage, Path]]:
    """Its own Azurite (on disk, restartable) and emulators: the suite restarts storage and changes the tenant."""
    workdir = tmp_path_factory.mktemp("chaos")
    storage = Storage(workdir)
    storage.start()
    try:
        with start_local_stack(seed="chaos-short", size=40, tenants=1, azurite=storage.ports) as stack:
            yield stack, storage, workdir
    finally:
        storage.stop()


@pytest.fixture(scope="module")
async def suite(chaos_stack: tuple[LocalStack, Storage, Path]) -> AsyncIterator[Suite]:
    stack, storage, workdir = chaos_stack
    saved = dict(os.environ)
    chaos = Suite(stack, storage, workdir, SEED, connections=1, round_s=ROUND_S)
    try:
        await chaos.setup()
        for index in range(ROUNDS):
            await chaos.round(index)
        yield chaos
    finally:
        await chaos.close()
        os.environ.clear()
        os.environ.update(saved)


async def test_the_short_form_holds_every_invariant_under_faults_kills_and_restarts(suite: Suite) -> None:
    results = suite.results
    assert [r.violations for r in results] == [[]] * ROUNDS
    fired = {k: v for r in results for k, v in r.faults.items() if k.startswith("graph_") and v}
    assert fired, "no Graph fault fired: the rounds proved nothing"
    assert sum(r.kills for r in results) > 0
    assert sum(r.events for r in results) > 0
    assert suite.storage.restarts > 0  # this seed restarts Azurite (persisted on disk) in a round
    assert sum(r.purges for r in results) > 0  # and purges a connection while Key Vault deletes slowly
    text = render(SEED, results, minutes=0, restarts=suite.storage.restarts, seconds=1)
    assert f"make chaos SEED={SEED}" in text and "invariant violations (target 0) | **0**" in text
    kept = page(text, page("old figures\n", None).replace("## How it works", "## How it works (edited)"))
    assert kept.startswith(text) and "## How it works (edited)" in kept and "old figures" not in kept


async def test_a_corrupted_stored_row_is_a_violation(suite: Suite) -> None:
    tables, cid = suite.container.tables(), suite.world.connections[0].id
    row = next(iter([dict(r) async for r in tables.query(names.DIRECTORY_USERS, "PartitionKey eq @pk", {"pk": cid})]))
    await tables.upsert(names.DIRECTORY_USERS, {**row, "displayName": "Corrupted on purpose"}, replace=True)
    try:
        violations, _ = await suite.check()
        assert any(v.startswith("stored copy:") and row["RowKey"] in v for v in violations), violations
    finally:
        await tables.upsert(names.DIRECTORY_USERS, row, replace=True)
    assert (await suite.check())[0] == []


async def test_change_feed_messages_deleted_between_run_and_check_are_a_violation(suite: Suite) -> None:
    conn = suite.world.connections[0]
    suite.world.tenant_op(conn, "create", 4242)  # a new user in scope: announced by the next sync
    await suite.settle()
    dropped = await suite.container.queues().receive_all(names.DIRECTORY_CHANGES)  # the sabotage
    assert dropped
    violations, _ = await suite.check()
    assert any(v.startswith("change feed:") and "entered the scope unannounced" in v for v in violations), violations


async def test_a_pending_version_left_in_key_vault_is_a_violation(suite: Suite) -> None:
    conn = suite.world.connections[0]
    secrets = suite.container.secrets()
    rotated = []
    for uid in suite.world.user_ids(conn):
        if await secrets.exists(password_name(conn.id, uid)):
            rotated.append(uid)
    assert rotated, "no user was rotated by the rounds"
    name = password_name(conn.id, rotated[0])
    written = await secrets.set(name, "Pending-on-purpose-1aA!", tags={rules.STATUS_TAG: rules.PENDING})
    try:
        violations, _ = await suite.check()
        assert f"rotation: user {rotated[0]}: a pending version outlived the run after the round" in violations
    finally:
        await secrets.disable(name, written.version, {rules.STATUS_TAG: "abandoned"})
    assert (await suite.check())[0] == []


async def test_two_overlapping_sync_runs_are_a_violation(suite: Suite) -> None:
    tables, cid = suite.container.tables(), suite.world.connections[0].id
    runs = [dict(r) async for r in tables.query(names.SYNC_RUNS, "PartitionKey eq @pk", {"pk": cid})]
    real = max(runs, key=lambda r: str(r["started_at"]))
    began = utc_now() - timedelta(seconds=30)
    fake = {
        **real,
        "RowKey": f"0000000000000-overlap{real['run_id']}",
        "run_id": f"overlap{real['run_id']}",
        "started_at": iso(began),
        "ended_at": iso(utc_now() + timedelta(seconds=30)),
    }
    await tables.upsert(names.SYNC_RUNS, fake, replace=True)
    try:
        violations, _ = await suite.check()
        assert any(v.startswith("overlap:") and fake["run_id"] in v for v in violations), violations
    finally:
        await tables.delete(names.SYNC_RUNS, cid, fake["RowKey"])
    assert (await suite.check())[0] == []


async def test_a_purge_that_left_the_connection_is_a_violation(suite: Suite) -> None:
    cid, secret = await throwaway_connection(suite.stack, suite.container, random.Random("not purged"))
    suite.purged.append((cid, secret))  # as if its purge had run
    violations, _ = await suite.check()
    assert f"purge: connection {cid} is still stored after its purge" in violations
    assert f"purge: connection {cid}'s secret is still in Key Vault after its purge" in violations
    await suite.container.tables().delete(names.CONNECTIONS, "connection", cid)
    await suite.container.secrets().delete(secret)


async def test_a_secret_or_a_token_in_a_worker_log_is_a_violation(suite: Suite) -> None:
    log = suite.pool.logs[0]
    secret = suite.stack.app("customer")["client_secret"]
    token = "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4eHh4eHh4eCJ9.c2lnbmF0dXJlLWJ5dGVz"
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f'{{"message": "oops {secret}"}}\n{{"message": "Bearer {token}"}}\n')
    violations, _ = await suite.check()
    assert f"leak: a secret or password appears in log {log.name}" in violations
    assert f"leak: a token appears in log {log.name}" in violations
    assert (await suite.check())[0] == []  # the scan reads each log line once
