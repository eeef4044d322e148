"""Purging a connection as a queued job. The request marks the connection `purging` and queues the job: nothing is
deleted while the HTTP call waits. The worker removes every secret and every row of the connection, each step
idempotent and its progress kept on the connection row, so a crash or a lost answer is finished by the next run;
the connection row goes last, and with it the progress (GET /api/connections/{id} is then 404)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from shared import storage_names as names
from shared.adapters.sync_state import SyncState
from shared.adapters.table_store import etag_of
from shared.domain.connection import PARTITION, Connection, from_entity
from shared.domain.connection_input import guid
from shared.domain.purge import (
    BY_PARTITION,
    BY_PARTITION_PREFIX,
    PurgeProgress,
    history_user,
    parse_purge_message,
    purge_message,
    row_scopes,
)
from shared.domain.rotation import lock_is_free
from shared.domain.secret_names import client_cert_name, client_secret_name, notification_state_name, password_name
from shared.domain.timestamps import to_iso, utc_now
from shared.errors import ConnectorError, NotFound, ValidationError
from shared.services import audit, subscriptions

log = logging.getLogger(__name__)
PURGE_BUDGET_S = 300.0  # one invocation's share; the rest continues in a new message (functionTimeout is 10 min)
USERS_PER_CHUNK = 250  # password secrets erased together: one wait for the vault's deletes per chunk
DEFER_S = 60  # when a sync or rotation run is still busy with the connection, look again this much later
LEASE_MARGIN = timedelta(minutes=2)
STEPS = ("lease_taken", "passwords_erased", "chunk_done", "credentials_erased", "table_removed")
StepHook = Callable[[str], Awaitable[None]]


def _progress_of(row: dict[str, Any]) -> PurgeProgress:
    raw = row.get("purge_json")
    if raw:
        return PurgeProgress.from_json(str(raw))
    now = utc_now()  # purging without a record (written by hand, or an older version): one, the same every time
    job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"purge/{row['RowKey']}").hex
    return PurgeProgress(job_id=job_id, requested_at=now, updated_at=now)


async def purge_status(tables: Any, connection_id: str) -> dict[str, Any] | None:
    """The progress of the connection's purge, or None when it is not being purged."""
    row = await tables.get(names.CONNECTIONS, PARTITION, connection_id)
    if row is None or row.get("state") != "purging":
        return None
    return _progress_of(row).public_view()


async def request_purge(container: Any, connection_id: str) -> tuple[int, dict[str, Any]]:
    """Mark the connection `purging` and queue its job (202). Safe to repeat: a repeat queues the same job again,
    which also revives a purge whose message was lost or gave up."""
    try:
        cid = guid(connection_id)
    except Exception:  # noqa: BLE001 (not a GUID)
        raise ValidationError({"id": "must be a connection id (GUID)"}) from None
    tables = container.tables()
    row = await tables.get(names.CONNECTIONS, PARTITION, cid)
    if row is None:
        raise NotFound(f"No connection {cid}")
    if row.get("state") == "purging":
        progress = _progress_of(row)
    else:
        now = utc_now()
        progress = PurgeProgress(job_id=uuid.uuid4().hex, requested_at=now, updated_at=now)
        changes = {"state": "purging", "state_reason": "purge requested", "updated_at": to_iso(now)}
        entity = {"PartitionKey": PARTITION, "RowKey": cid, **changes, "purge_json": progress.to_json()}
        await tables.update_if_match(names.CONNECTIONS, entity, etag_of(row) or "", replace=False)
        await audit.record(tables, "connection.purge", cid, "queued", f"job {progress.job_id}")
    await container.queues().send(names.PURGE_JOBS, purge_message(cid, progress.job_id))
    log.info("purge of connection %s queued (job %s)", cid, progress.job_id)
    return 202, {"id": cid, "state": "purging", "purge": progress.public_view()}


async def run_purge_job(
    container: Any, body: Any, *, budget_s: float = PURGE_BUDGET_S, after_step: StepHook | None = None
) -> PurgeProgress | None:
    """The `purge-jobs` worker. None when there is nothing (left) to purge. A typed failure is recorded on the
    progress and raised, so the host runs the message again (every step is idempotent)."""
    try:
        connection_id, _ = parse_purge_message(body)
    except ValidationError as exc:
        log.warning("purge job message dropped: %s", exc.message)
        return None
    return await _Purge(container, connection_id, budget_s, after_step).run()


@contextlib.asynccontextmanager
async def _rows(tables: Any, table: str, filter: str, params: dict[str, str], select: list[str]) -> AsyncIterator[Any]:
    rows = tables.query(table, filter, params, select=select)
    try:
        yield rows
    finally:
        await rows.aclose()


class _Purge:
    def __init__(self, container: Any, connection_id: str, budget_s: float, after_step: StepHook | None) -> None:
        self.cid = connection_id
        self.container = container
        self.tables, self.secrets, self.queues = container.tables(), container.secrets(), container.queues()
        self.budget_s = budget_s
        self.deadline = time.monotonic() + budget_s
        self.after_step = after_step
        self.etag = ""
        self.progress = PurgeProgress(job_id="", requested_at=utc_now())

    async def _step(self, step: str) -> None:
        if self.after_step is not None:
            await self.after_step(step)

    async def _save(self, **changes: Any) -> None:
        self.progress = self.progress.advanced(updated_at=utc_now(), **changes)
        entity = {"PartitionKey": PARTITION, "RowKey": self.cid, "purge_json": self.progress.to_json()}
        self.etag = await self.tables.update_if_match(names.CONNECTIONS, entity, self.etag, replace=False)

    async def run(self) -> PurgeProgress | None:
        row = await self.tables.get(names.CONNECTIONS, PARTITION, self.cid)
        if row is None or row.get("state") != "purging":
            log.info("purge job for connection %s: nothing to purge (done already, or not purging)", self.cid)
            return None
        connection = from_entity(row)
        self.etag, self.progress = etag_of(row) or "", _progress_of(row)
        ttl = timedelta(seconds=self.budget_s) + LEASE_MARGIN
        if not await SyncState(self.tables, self.cid).acquire_lease(f"purge-{self.progress.job_id}", ttl):
            return await self._defer("waiting for a sync run to finish")
        if await self._rotation_busy():
            return await self._defer("waiting for a rotation run to finish")
        await self._save(phase="secrets", invocations=self.progress.invocations + 1, detail="")
        await self._step("lease_taken")
        if not connection.is_ad:
            await subscriptions.remove(self.container, connection)  # Graph subscriptions first (they name this app)
        try:
            finished = await self._erase_secrets(connection) and await self._remove_rows()
        except ConnectorError as exc:
            with contextlib.suppress(ConnectorError):
                await self._save(detail=f"{exc.code}: {exc.message}"[:500])
            raise
        if not finished:  # the budget is used up: the rest in a new invocation
            await self.queues.send(names.PURGE_JOBS, purge_message(self.cid, self.progress.job_id))
            log.info("purge of connection %s continues in a new invocation (%s)", self.cid, self.progress.phase)
            return self.progress
        from shared.services.ad_domains import release_claims

        await release_claims(self.tables, connection)  # its tenant index entry or AD domain, before its own row
        await self.tables.delete(names.CONNECTIONS, PARTITION, self.cid)
        retained = self.progress.secrets_retained
        detail = f"{retained} deleted secret(s) kept by the vault's purge protection until its retention ends"
        self.progress = self.progress.advanced(phase="done", updated_at=utc_now(), detail=detail if retained else "")
        log.info(
            "connection %s purged (job %s): %d secret(s) purged, %d kept deleted by purge protection, rows %s",
            self.cid,
            self.progress.job_id,
            self.progress.secrets_purged,
            retained,
            dict(self.progress.rows_removed),
        )
        return self.progress

    async def _defer(self, why: str) -> PurgeProgress:
        await self._save(phase="waiting", detail=why)
        await self.queues.send(names.PURGE_JOBS, purge_message(self.cid, self.progress.job_id), delay_s=DEFER_S)
        log.info("purge of connection %s: %s; trying again in %d s", self.cid, why, DEFER_S)
        return self.progress

    async def _rotation_busy(self) -> bool:
        """A rotation run holds a user lock: it may still write a password secret, so wait for it."""
        now = utc_now()
        params = {"pk": self.cid, "none": ""}
        select = ["lock_owner", "lock_expires_at"]
        filter = f"{BY_PARTITION} and lock_owner ne @none"
        async with _rows(self.tables, names.ROTATION_STATE, filter, params, select) as rows:
            return any([not lock_is_free(row, now) async for row in rows])

    # --- secrets: users' passwords in chunks (their rotation rows are the checkpoint), then the credentials ----
    async def _erase_secrets(self, connection: Connection) -> bool:
        while users := await self._password_users():
            erased = await self.secrets.erase(password_name(self.cid, user) for user in users)
            await self._step("passwords_erased")
            await self._forget(users)
            self.progress = self.progress.with_secrets(erased.purged, erased.retained)
            await self._save()
            await self._step("chunk_done")
            if time.monotonic() >= self.deadline:
                return False
        credentials = {client_secret_name(self.cid), client_cert_name(self.cid), notification_state_name(self.cid)}
        if connection.credential is not None and connection.credential.secret_name:
            credentials.add(connection.credential.secret_name)
        erased = await self.secrets.erase(sorted(credentials))
        self.progress = self.progress.with_secrets(erased.purged, erased.retained)
        await self._save(phase="tables")
        await self._step("credentials_erased")
        return True

    async def _password_users(self) -> list[str]:
        """Up to a chunk of users who may have a password secret: rotation state first, then history alone."""
        users: list[str] = []
        async with _rows(self.tables, names.ROTATION_STATE, BY_PARTITION, {"pk": self.cid}, ["RowKey"]) as rows:
            async for row in rows:
                users.append(str(row["RowKey"]))
                if len(users) >= USERS_PER_CHUNK:
                    return users
        if users:
            return users
        prefix = {"lo": f"{self.cid}_", "hi": f"{self.cid}`"}
        async with _rows(self.tables, names.ROTATION_HISTORY, BY_PARTITION_PREFIX, prefix, ["PartitionKey"]) as rows:
            async for row in rows:
                user = history_user(self.cid, str(row["PartitionKey"]))
                if user and user not in users:
                    users.append(user)
                    if len(users) >= USERS_PER_CHUNK:
                        break
        return users

    async def _forget(self, users: list[str]) -> None:
        """Remove the erased users' rotation rows (state and history): the checkpoint of the chunk."""
        limit = asyncio.Semaphore(8)

        async def history(user: str) -> list[tuple[str, str]]:
            async with (
                limit,
                _rows(
                    self.tables, names.ROTATION_HISTORY, BY_PARTITION, {"pk": f"{self.cid}_{user}"}, ["RowKey"]
                ) as rows,
            ):
                return [(f"{self.cid}_{user}", str(row["RowKey"])) async for row in rows]

        keys = [key for found in await asyncio.gather(*(history(u) for u in users)) for key in found]
        if keys:
            self.progress = self.progress.with_rows(
                names.ROTATION_HISTORY, await self.tables.delete_many(names.ROTATION_HISTORY, keys)
            )
        removed = await self.tables.delete_many(names.ROTATION_STATE, [(self.cid, user) for user in users])
        self.progress = self.progress.with_rows(names.ROTATION_STATE, removed)

    # --- rows: every table's rows of the connection ----------------------------------------------------------
    async def _remove_rows(self) -> bool:
        scopes = row_scopes(self.cid)
        for index, scope in enumerate(scopes):
            select = ["PartitionKey", "RowKey"]
            async with _rows(self.tables, scope.table, scope.filter, dict(scope.parameters), select) as rows:
                keys = [(str(r["PartitionKey"]), str(r["RowKey"])) async for r in rows]
            if not keys:
                continue
            self.progress = self.progress.with_rows(scope.table, await self.tables.delete_many(scope.table, keys))
            await self._save()
            await self._step("table_removed")
            if index < len(scopes) - 1 and time.monotonic() >= self.deadline:
                return False  # every invocation removes at least one table's rows: the purge always advances
        return True
