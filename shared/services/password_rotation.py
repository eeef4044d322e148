"""Password rotation for a connection's rotation group: two-phase (Key Vault pending, Entra PATCH, Key Vault
current) so a crash at any step is finished by the next run, and Key Vault's current version ends equal to Entra."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import storage_names as names
from shared.adapters.connection_store import load_connection
from shared.adapters.graph import GraphClient
from shared.adapters.queues import QueueSender
from shared.adapters.secret_store import SecretStore
from shared.adapters.table_store import TableStore
from shared.domain import rotation as rules
from shared.domain.connection import Connection
from shared.domain.passwords import generate_password
from shared.domain.rate_limit import TokenBucket, bucket_for
from shared.domain.secret_names import SecretRef, password_ref
from shared.domain.secret_values import Secret, SecretVersionInfo
from shared.errors import (
    Conflict,
    ConnectorError,
    GraphError,
    GraphNotFound,
    GraphPermissionDenied,
    NotFound,
    SecretNotFound,
    TransientError,
)
from shared.services.rotation_state import RotationState
from shared.services.sync_apply import event
from shared.services.sync_fetch import batch_get, scope_ids

log = logging.getLogger(__name__)

STEPS = ("vault_written", "patched", "before_mark_current", "marked_current")
StepHook = Callable[[str, str], Awaitable[None]]  # (step, user id): a test seam to inject a crash after a step
REUSED_MARKER = "used previously"  # Graph's 400 when the password is the current or previous one
USER_SELECT = "id,accountEnabled,onPremisesSyncEnabled,userPrincipalName"
CONCURRENCY = 8


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


@dataclass(frozen=True)
class Outcome:
    result: str  # rotated | resolved | skipped | failed | not_due
    reason: str = ""
    version: str = ""


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
    container: Any, connection_id: str, *, all: bool = False, user_id: str | None = None, **options: Any
) -> rules.RotationReport:
    """What the triggers and the demo call: load the connection, wire the adapters, rotate."""
    connection = await load_connection(container.tables(), connection_id)
    deps = await deps_for(container, connection, **options)
    return await rotate_connection(deps, connection, all=all, user_ids=[user_id] if user_id else None)


async def run_rotation_job(container: Any, connection_id: str) -> rules.RotationReport | None:
    """The queue worker's job: rotate the connection's due users; None when the connection was deleted or its
    rotation switched off since the job was queued (the message is then simply done)."""
    try:
        connection = await load_connection(container.tables(), connection_id)
    except NotFound:
        return None
    if not connection.rotation_enabled:
        return None
    return await run_rotation(container, connection_id)


async def enqueue_rotation_jobs(container: Any) -> int:
    """One `rotation-jobs` message per connection with rotation on (the hourly timer)."""
    rows = container.tables().query(names.CONNECTIONS, "PartitionKey eq @pk", {"pk": "connection"})
    ids = [str(r["RowKey"]) async for r in rows if r.get("rotation_enabled") and r.get("state") != "disabled"]
    if ids:
        await container.queues().send_many(names.ROTATION_JOBS, [{"connection_id": i} for i in ids])
    return len(ids)


async def rotate_connection(
    deps: RotationDeps, connection: Connection, *, all: bool = False, user_ids: list[str] | None = None
) -> rules.RotationReport:
    """Rotate the due users (every user in the set with `all`, or just `user_ids`, forced). Resolves any pending
    version first. Users outside rotation group and sync scope are never touched."""
    if not connection.rotation_enabled:
        raise Conflict(f"password rotation is off for connection {connection.id}")
    if not connection.rotation_group_id:
        raise Conflict(f"connection {connection.id} has no rotation group")
    return await _Run(deps, connection).run(all=all, user_ids=user_ids)


class _Run:
    def __init__(self, deps: RotationDeps, connection: Connection) -> None:
        self.deps = deps
        self.connection = connection
        self.state = RotationState(deps.tables, connection.id)
        self.report = rules.RotationReport(connection.id, deps.run_id)

    async def run(self, *, all: bool, user_ids: list[str] | None) -> rules.RotationReport:
        graph = self.deps.graph
        members = await scope_ids(graph, self.connection.rotation_group_id)
        scope = await scope_ids(graph, self.connection.sync_group_id)
        eligible = rules.due_set(members, scope)
        force = all or user_ids is not None
        if user_ids is not None:
            for uid in sorted(set(user_ids) - set(eligible)):
                self.report.skipped[uid] = rules.Skip.NOT_IN_SCOPE
            eligible = [uid for uid in eligible if uid in set(user_ids)]
        states = await self.state.all()
        now = self.deps.now()
        work = [u for u in eligible if force or rules.is_due(states.get(u), now) or states.get(u, {}).get("lock_owner")]
        self.report.considered = len(eligible)
        self.report.not_due = len(eligible) - len(work)
        users = await self._users(work)
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(uid: str) -> None:
            async with limit:
                await self._user(uid, users.get(uid), force)

        try:
            async with asyncio.TaskGroup() as group:
                for uid in work:
                    group.create_task(one(uid))
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None
        log.info(
            "rotation run %s for connection %s: %d rotated, %d resolved, %d skipped, %d failed, %d not due",
            self.deps.run_id,
            self.connection.id,
            len(self.report.rotated),
            len(self.report.resolved),
            len(self.report.skipped),
            len(self.report.failed),
            self.report.not_due,
        )
        return self.report

    async def _users(self, ids: list[str]) -> dict[str, dict[str, Any] | None]:
        urls = {uid: f"users/{uid}?$select={USER_SELECT}" for uid in ids}
        fetched = await batch_get(self.deps.graph, list(urls.values()), label="rotation.users")
        return {uid: fetched.get(url) for uid, url in urls.items()}

    async def _user(self, uid: str, user: dict[str, Any] | None, force: bool) -> None:
        now = self.deps.now()
        etag = await self.state.lock(uid, self.deps.run_id, now)
        if etag is None:
            self.report.skipped[uid] = rules.Skip.BUSY
            return
        try:
            outcome = await self._work(uid, user)
        except ConnectorError as exc:  # typed errors are recorded; anything else is a crash and keeps the lock
            log.warning("rotation of user %s in connection %s failed: %s", uid, self.connection.id, exc.code)
            outcome = Outcome("failed", exc.code)
        await self._finish(uid, etag, outcome, now)

    async def _step(self, step: str, uid: str) -> None:
        if self.deps.after_step is not None:
            await self.deps.after_step(step, uid)

    async def _versions(self, name: str) -> list[SecretVersionInfo]:
        try:
            return await self.deps.secrets.versions(name)
        except SecretNotFound:
            return []

    async def _work(self, uid: str, user: dict[str, Any] | None) -> Outcome:
        ref = password_ref(self.connection.id, uid)
        versions = await self._versions(ref.name)
        current = rules.newest_with(versions, rules.CURRENT)
        await self._supersede(ref, versions, keep=current)
        pending = rules.newest_with(versions, rules.PENDING)
        if pending is not None and current is not None and not _newer(pending, current):
            await self._retag(ref, pending, rules.FAILED)  # older than the current one: never became Entra's
            pending = None
        if pending is not None:
            value = (await self.deps.secrets.get(ref.name, pending.version)).value
            outcome = await self._apply(uid, ref, pending, value, current, resolving=True)
            return outcome
        reason = rules.skip_reason(user)
        if reason is not None:
            return Outcome("skipped", reason)
        previous = (await self.deps.secrets.get(ref.name, current.version)).value if current else None
        password = Secret(generate_password(previous=previous.reveal() if previous else None))
        await self.deps.vault_creates.acquire()
        stamp = self.deps.now().isoformat()
        info = await self.deps.secrets.set(
            ref.name, password, tags=rules.with_status(ref.tags, rules.PENDING, run_id=self.deps.run_id, at=stamp)
        )
        await self._step("vault_written", uid)
        return await self._apply(uid, ref, info, password, current, resolving=False)

    async def _apply(
        self,
        uid: str,
        ref: SecretRef,
        version: SecretVersionInfo,
        password: Secret,
        current: SecretVersionInfo | None,
        *,
        resolving: bool,
    ) -> Outcome:
        body = {"passwordProfile": {"password": password.reveal(), "forceChangePasswordNextSignIn": False}}
        try:
            await self.deps.graph_writes.acquire()
            await self.deps.graph.patch(f"users/{uid}", body, label="users.passwordReset")
        except GraphPermissionDenied:
            await self._abandon(ref, version, current)
            return Outcome("skipped", rules.Skip.PRIVILEGED)
        except GraphNotFound:
            await self._abandon(ref, version, current)
            return Outcome("skipped", rules.Skip.NOT_FOUND)
        except GraphError as exc:
            if not (resolving and exc.status == 400 and REUSED_MARKER in exc.message):
                await self._abandon(ref, version, current)
                return Outcome("failed", exc.graph_code or exc.code)
            # resolving a version whose PATCH had already landed: Entra holds it, so it becomes current
        except TransientError:
            raise  # the version stays pending; the next run PATCHes it again
        await self._step("patched", uid)
        await self._step("before_mark_current", uid)
        tags = rules.with_status(version.tags, rules.CURRENT, rotated_at=self.deps.now().isoformat())
        await self.deps.secrets.update_tags(ref.name, version.version, tags)
        await self._step("marked_current", uid)
        if current is not None:
            await self._retag(ref, current, rules.SUPERSEDED)
        await self._announce(uid, ref, version.version)
        return Outcome("resolved" if resolving else "rotated", version=version.version)

    async def _abandon(self, ref: SecretRef, version: SecretVersionInfo, current: SecretVersionInfo | None) -> None:
        """Entra refused the pending password for good: tag it failed and make the known password newest again."""
        await self._retag(ref, version, rules.FAILED)
        if current is None:
            return
        value = (await self.deps.secrets.get(ref.name, current.version)).value
        await self.deps.vault_creates.acquire()
        await self.deps.secrets.set(
            ref.name, value, tags=rules.with_status(ref.tags, rules.CURRENT, restored_from=current.version)
        )
        await self._retag(ref, current, rules.SUPERSEDED)

    async def _retag(self, ref: SecretRef, info: SecretVersionInfo, status: str) -> None:
        await self.deps.secrets.update_tags(ref.name, info.version, rules.with_status(info.tags, status))

    async def _supersede(
        self, ref: SecretRef, versions: list[SecretVersionInfo], keep: SecretVersionInfo | None
    ) -> None:
        """Older versions still tagged current (a crash after marking the new one) are tidied up."""
        for info in versions:
            if keep is not None and info.version != keep.version and rules.status_of(info) == rules.CURRENT:
                await self._retag(ref, info, rules.SUPERSEDED)

    async def _announce(self, uid: str, ref: SecretRef, version: str) -> None:
        message = event(
            "password.rotated", self.connection.id, self.connection.tenant_id, self.deps.run_id, uid, version=version
        )
        await self.deps.queues.publish_events(
            names.DIRECTORY_CHANGES, [{**message, "secret_name": ref.name, "version": version}]
        )

    async def _finish(self, uid: str, etag: str, outcome: Outcome, started: datetime) -> None:
        now = self.deps.now()
        fields: dict[str, Any] = {"last_result": outcome.result, "last_reason": outcome.reason}
        if outcome.result in ("rotated", "resolved"):
            fields |= {"last_rotated_at": now.isoformat(), "current_version": outcome.version}
            fields["next_due_at"] = rules.next_due(now, self.connection.rotation_interval_days).isoformat()
            (self.report.rotated if outcome.result == "rotated" else self.report.resolved)[uid] = outcome.version
        elif outcome.result == "skipped":
            fields["next_due_at"] = rules.next_due(now, 1).isoformat()  # look again tomorrow
            self.report.skipped[uid] = outcome.reason
        else:
            self.report.failed[uid] = outcome.reason  # next_due_at unchanged: still due, retried next run
        await self.state.finish(uid, etag, fields)
        await self.state.record(uid, started, self.deps.run_id, outcome.result, outcome.reason, outcome.version)


def _newer(a: SecretVersionInfo, b: SecretVersionInfo) -> bool:
    if a.created_on is None or b.created_on is None:
        return True
    return a.created_on >= b.created_on
