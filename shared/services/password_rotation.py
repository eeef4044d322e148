"""Password rotation for a connection's rotation group. Every run first resolves every pending version (a password
in Key Vault that Entra may hold), whatever the due dates, then rotates the due users; see rotation_user.py for the
two-phase change of one user. A run that finds the app without a directory role for resets marks the connection's
rotation blocked (with the remedy) instead of calling every user privileged."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import storage_names as names
from shared import telemetry
from shared.adapters.connection_store import load_connection
from shared.adapters.graph import GraphClient
from shared.adapters.queues import QueueSender
from shared.adapters.secret_store import SecretStore
from shared.adapters.table_store import TableStore
from shared.domain import rotation as rules
from shared.domain.ad_source import require_entra
from shared.domain.connection import Connection
from shared.domain.directory_roles import ASSIGN_ROLE_REMEDY, RoleCheck
from shared.domain.rate_limit import TokenBucket, bucket_for
from shared.errors import Conflict, ConnectorError, NotFound
from shared.logging_context import job_context
from shared.services import audit
from shared.services.reset_role import check_reset_role
from shared.services.rotation_state import RotationState
from shared.services.rotation_user import STEPS, Outcome, StepHook, UserRotation
from shared.services.sync_fetch import batch_get, scope_ids

__all__ = ["STEPS", "RotationDeps", "enqueue_rotation_jobs", "rotate_connection", "run_rotation", "run_rotation_job"]
log = logging.getLogger(__name__)

USER_SELECT = "id,accountEnabled,onPremisesSyncEnabled,userPrincipalName"
CONCURRENCY = 8
BLOCKED = "reset_role_missing"
ROTATION_STATUS_ROW = "rotation"  # in syncstate (PK connection id): the connection's rotation state, shown in status


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RotationDeps:
    tables: TableStore
    queues: QueueSender
    secrets: SecretStore
    graph: GraphClient
    graph_writes: TokenBucket
    vault_creates: TokenBucket
    now: Callable[[], datetime] = _utcnow
    after_step: StepHook | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)


async def deps_for(container: Any, connection: Connection, **options: Any) -> RotationDeps:
    """Real adapters from the composition root, with the process-wide limiters for the tenant and the vault."""
    return RotationDeps(
        tables=container.tables(),
        queues=container.queues(),
        secrets=container.secrets(),
        graph=await container.graph_for(connection),
        graph_writes=bucket_for("graph-writes", connection.tenant_id),
        vault_creates=bucket_for("keyvault-creates", container.settings.key_vault_url),
        **options,
    )


async def run_rotation(
    container: Any,
    connection_id: str,
    *,
    all: bool = False,
    user_id: str | None = None,
    must_hold: bool = False,
    **options: Any,
) -> rules.RotationReport:
    """What the triggers and the demo call: load the connection, wire the adapters, rotate. With `must_hold` (the
    HTTP API) a user outside the connection's rotation set is NotFound, and nothing is touched."""
    connection = await load_connection(container.tables(), connection_id)
    require_entra(connection, "rotation")  # AD passwords rotate through the agent (shared/services/ad_rotation.py)
    deps = await deps_for(container, connection, **options)
    users = [user_id] if user_id else None
    return await rotate_connection(deps, connection, all=all, user_ids=users, must_hold=must_hold)


async def run_rotation_job(container: Any, connection_id: str) -> rules.RotationReport | None:
    """The queue worker's job: rotate the connection's due users; None when the connection was deleted or its
    rotation switched off since the job was queued (the message is then simply done)."""
    try:
        connection = await load_connection(container.tables(), connection_id)
    except NotFound:
        return None
    if not connection.rotation_enabled or connection.is_ad:
        return None
    return await run_rotation(container, connection_id)


async def enqueue_rotation_jobs(container: Any) -> int:
    """One `rotation-jobs` message per connection with rotation on (the hourly timer)."""
    rows = container.tables().query(names.CONNECTIONS, "PartitionKey eq @pk", {"pk": "connection"})
    idle = ("disabled", "purging")
    ids = [
        str(r["RowKey"])
        async for r in rows
        if r.get("rotation_enabled") and r.get("state") not in idle and r.get("source") != "ad"  # AD: the agent's
    ]
    if ids:
        await container.queues().send_many(names.ROTATION_JOBS, [{"connection_id": i} for i in ids])
    return len(ids)


async def rotation_status(tables: TableStore, connection_id: str) -> dict[str, str] | None:
    """The connection's rotation state as the last run left it: `blocked` with reason, detail and remedy, or `ok`;
    None before any run. Shown in the sync status and the verify report."""
    row = await tables.get(names.SYNC_STATE, connection_id, ROTATION_STATUS_ROW)
    if row is None:
        return None
    return {k: str(row.get(k, "")) for k in ("state", "reason", "detail", "remedy", "at")}


async def rotate_connection(
    deps: RotationDeps,
    connection: Connection,
    *,
    all: bool = False,
    user_ids: list[str] | None = None,
    must_hold: bool = False,
) -> rules.RotationReport:
    """Resolve every pending version, then rotate the due users (every user in the set with `all`, or just
    `user_ids`, forced). Users outside rotation group and sync scope never get a new password."""
    if not connection.rotation_enabled:
        raise Conflict(f"password rotation is off for connection {connection.id}")
    if not connection.rotation_group_id:
        raise Conflict(f"connection {connection.id} has no rotation group")
    with job_context(connection.id, deps.run_id):  # every log line of the run names the connection and the run
        run, watch = _Run(deps, connection), telemetry.RunWatch(deps.graph)
        try:
            report = await run.run(all=all, user_ids=user_ids, must_hold=must_hold)
        except ConnectorError as exc:
            telemetry.rotation_run(watch, run.report, exc.code)
            raise
        telemetry.rotation_run(watch, report)
        return report


class _Run:
    def __init__(self, deps: RotationDeps, connection: Connection) -> None:
        self.deps = deps
        self.connection = connection
        self.state = RotationState(deps.tables, connection.id)
        self.report = rules.RotationReport(connection.id, deps.run_id)
        self.user = UserRotation(deps, connection)
        self.denied: list[tuple[str, str, datetime]] = []  # (user, lock etag, started): decided after the run
        self.ever_rotated = False
        self.recorded: dict[str, str] = {}  # user id -> the current version its state row knows
        self.owners: dict[str, bool] = {}  # other connection id -> does it rotate (read once per run)

    async def run(self, *, all: bool, user_ids: list[str] | None, must_hold: bool = False) -> rules.RotationReport:
        graph = self.deps.graph
        members, scope, states, role = await asyncio.gather(
            scope_ids(graph, self.connection.rotation_group_id),
            scope_ids(graph, self.connection.sync_group_id),
            self.state.all(),
            check_reset_role(graph),
        )
        eligible = rules.due_set(members, scope)
        if user_ids is not None:
            if must_hold and set(user_ids) - set(eligible):
                raise NotFound("No such user in this connection's rotation group and sync scope")
            for uid in sorted(set(user_ids) - set(eligible)):
                self.report.skipped[uid] = rules.Skip.NOT_IN_SCOPE
            eligible = [uid for uid in eligible if uid in set(user_ids)]
        now = self.deps.now()
        force = all or user_ids is not None
        fresh = {u for u in eligible if force or rules.is_due(states.get(u), now)}
        unresolved = {u for u, row in states.items() if rules.needs_resolution(row)}
        self.recorded = {uid: str(row.get("current_version") or "") for uid, row in states.items()}
        self.ever_rotated = any(self.recorded.values())
        self.report.considered = len(eligible)
        self.report.not_due = len(set(eligible) - fresh - unresolved)
        if role.state == "missing":
            await self._blocked(role, touched=0)
            return self.report
        users = await self._users(sorted(fresh))
        # every pending version first, whatever the due dates and group membership; then the new passwords
        await self._each(sorted(unresolved), users, new=fresh)
        await self._each(sorted(fresh - unresolved), users, new=fresh)
        await self._settle_denials(role)
        log.info(
            "rotation run %s for connection %s: %d rotated, %d resolved, %d pending, %d skipped, %d failed, %d not due",
            self.deps.run_id,
            self.connection.id,
            len(self.report.rotated),
            len(self.report.resolved),
            len(self.report.pending),
            len(self.report.skipped),
            len(self.report.failed),
            self.report.not_due,
        )
        return self.report

    async def _each(self, ids: list[str], users: dict[str, dict[str, Any] | None], *, new: set[str]) -> None:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(uid: str) -> None:
            async with limit:
                await self._user(uid, users.get(uid), new=uid in new, recorded=self.recorded.get(uid, ""))

        try:
            async with asyncio.TaskGroup() as group:
                for uid in ids:
                    group.create_task(one(uid))
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None

    async def _users(self, ids: list[str]) -> dict[str, dict[str, Any] | None]:
        urls = {uid: f"users/{uid}?$select={USER_SELECT}" for uid in ids}
        fetched = await batch_get(self.deps.graph, list(urls.values()), label="rotation.users")
        return {uid: fetched.get(url) for uid, url in urls.items()}

    async def _user(self, uid: str, user: dict[str, Any] | None, *, new: bool, recorded: str) -> None:
        started = self.deps.now()
        etag = await self.state.lock(uid, self.deps.run_id, started)
        if etag is None:
            self.report.skipped[uid] = rules.Skip.BUSY
            return
        try:
            other = new and await self._owned_elsewhere(uid)  # a pending version of ours is still resolved
            outcome = await self.user.work(uid, user, new=new and not other, recorded=recorded)
            if other and outcome.result == "nothing":
                outcome = Outcome("skipped", rules.Skip.OTHER_OWNER)
        except ConnectorError as exc:  # typed errors are recorded; anything else is a crash and keeps the lock
            log.warning("rotation of user %s in connection %s failed: %s", uid, self.connection.id, exc.code)
            outcome = Outcome("failed", exc.code)
        if outcome.result == "denied":
            self.denied.append((uid, etag, started))
            return
        await self._finish(uid, etag, outcome, started)

    async def _owned_elsewhere(self, uid: str) -> bool:
        owner = await self.state.claim(self.connection.tenant_id, uid, self._rotates)
        if owner is not None:
            log.info("user %s of connection %s is rotated by connection %s", uid, self.connection.id, owner)
        return owner is not None

    async def _rotates(self, connection_id: str) -> bool:
        if connection_id not in self.owners:
            row = await self.deps.tables.get(names.CONNECTIONS, "connection", connection_id)
            alive = row is not None and row.get("state") not in ("disabled", "purging")
            self.owners[connection_id] = bool(alive and row and row.get("rotation_enabled"))
        return self.owners[connection_id]

    async def _settle_denials(self, role: RoleCheck) -> None:
        """A 403 to a reset means a user beyond the app's role, or no role at all. When the role is known to be there,
        or other resets in this run worked, the denied users are privileged. When the role could not be read and
        nothing worked, the connection's rotation is blocked and nobody is called privileged, if several users were
        refused or no reset of this connection ever worked (one refused user of a connection whose resets worked
        before is taken for a privileged one)."""
        worked = bool(self.report.rotated or self.report.resolved)
        suspect = len(self.denied) >= 2 or not self.ever_rotated
        if self.denied and role.state == "unknown" and not worked and suspect:
            for uid, etag, started in self.denied:
                await self._finish(uid, etag, Outcome("failed", BLOCKED), started)
            await self._blocked(role, touched=len(self.denied))
            return
        for uid, etag, started in self.denied:
            await self._finish(uid, etag, Outcome("skipped", rules.Skip.PRIVILEGED), started)
        await self._record_rotation_status(None)

    async def _blocked(self, role: RoleCheck, *, touched: int) -> None:
        how = "has no directory role" if role.state == "missing" else "was refused every reset (403)"
        detail = f"The app's service principal {how}: app-only password resets need one."
        self.report.blocked = {"reason": BLOCKED, "detail": detail, "remedy": ASSIGN_ROLE_REMEDY}
        await self._record_rotation_status(self.report.blocked)
        await audit.record(self.deps.tables, "rotation.blocked", self.connection.id, BLOCKED, f"{detail} ({touched})")
        log.warning("rotation of connection %s is blocked: %s", self.connection.id, detail)

    async def _record_rotation_status(self, blocked: dict[str, str] | None) -> None:
        await self.deps.tables.upsert(
            names.SYNC_STATE,
            {
                "PartitionKey": self.connection.id,
                "RowKey": ROTATION_STATUS_ROW,
                "state": "blocked" if blocked else "ok",
                "reason": (blocked or {}).get("reason", ""),
                "detail": (blocked or {}).get("detail", ""),
                "remedy": (blocked or {}).get("remedy", ""),
                "at": self.deps.now().isoformat(),
                "run_id": self.deps.run_id,
            },
        )

    async def _finish(self, uid: str, etag: str, outcome: Outcome, started: datetime) -> None:
        now = self.deps.now()
        fields: dict[str, Any] = {"last_result": outcome.result, "last_reason": outcome.reason}
        fields["pending_version"] = outcome.version if outcome.result == "pending" else ""
        fields["needs_resolution"] = outcome.result in ("pending", "failed")  # a failure may have left one pending
        if outcome.result in ("rotated", "resolved"):
            fields |= {"last_rotated_at": now.isoformat(), "current_version": outcome.version}
            fields["next_due_at"] = rules.next_due(now, self.connection.rotation_interval_days).isoformat()
            (self.report.rotated if outcome.result == "rotated" else self.report.resolved)[uid] = outcome.version
        elif outcome.result == "skipped":
            fields["next_due_at"] = rules.next_due(now, 1).isoformat()  # look again tomorrow
            self.report.skipped[uid] = outcome.reason
        elif outcome.result == "pending":
            self.report.pending[uid] = outcome.reason  # re-sent, the same password, by the next run
        elif outcome.result == "failed":
            self.report.failed[uid] = outcome.reason  # next_due_at unchanged: still due, retried next run
        await self.state.finish(uid, etag, fields)
        if outcome.result != "nothing":
            await self.state.record(uid, started, self.deps.run_id, outcome.result, outcome.reason, outcome.version)
