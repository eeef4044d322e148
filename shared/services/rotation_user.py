"""One user's password change, two-phase: the new password goes to Key Vault (pending) before Entra gets it, and
becomes current only once Entra has definitely taken it. An answer that is not a definite refusal leaves it pending,
to be re-sent (the same password) by the next run; nothing is ever rolled back to a value Entra may no longer hold."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared import storage_names as names
from shared.domain import rotation as rules
from shared.domain.connection import Connection
from shared.domain.passwords import generate_password
from shared.domain.rotation_versions import SEQ_TAG, Answer, Verdict, judge, plan_versions
from shared.domain.secret_names import SecretRef, password_ref
from shared.domain.secret_values import Secret, SecretVersionInfo
from shared.errors import GraphError, SecretNotFound, TransientError
from shared.services.sync_apply import event

log = logging.getLogger(__name__)

STEPS = ("vault_written", "patched", "before_mark_current", "marked_current")
StepHook = Callable[[str, str], Awaitable[None]]  # (step, user id): a test seam to inject a crash after a step
DENIED = "reset_denied"  # a 403 to a reset: a privileged user, or an app without a directory role (the run decides)


@dataclass(frozen=True)
class Outcome:
    result: str  # rotated | resolved | skipped | failed | pending | denied | nothing
    reason: str = ""
    version: str = ""


class UserRotation:
    """Works on one user at a time under that user's lock (the caller holds it)."""

    def __init__(self, deps: Any, connection: Connection) -> None:
        self.deps = deps
        self.connection = connection

    async def _step(self, step: str, uid: str) -> None:
        if self.deps.after_step is not None:
            await self.deps.after_step(step, uid)

    async def _versions(self, name: str) -> list[SecretVersionInfo]:
        try:
            listed: list[SecretVersionInfo] = await self.deps.secrets.versions(name)
            return listed
        except SecretNotFound:
            return []

    async def work(self, uid: str, user: dict[str, Any] | None, *, new: bool, recorded: str = "") -> Outcome:
        """Resolve a pending version if there is one; otherwise, when `new`, make and apply a new password.
        `recorded`: the current version the user's state row knows; a newer current one (a crash right after
        marking it) is finished: announced and recorded, not rotated again."""
        ref = password_ref(self.connection.id, uid)
        plan = plan_versions(await self._versions(ref.name))
        for info, status in plan.retag:
            await self._retag(ref, info, status)
        if plan.pending is not None:
            value = (await self.deps.secrets.get(ref.name, plan.pending.version)).value
            return await self._apply(uid, ref, plan.pending, value, plan.current, plan.next_seq, resolving=True)
        current = plan.current
        if current is not None and recorded and current.version != recorded and "rotated-at" in current.tags:
            await self._announce(uid, ref, current.version)
            return Outcome("resolved", version=current.version)
        if not new:
            return Outcome("nothing")
        reason = rules.skip_reason(user)
        if reason is not None:
            return Outcome("skipped", reason)
        previous = (await self.deps.secrets.get(ref.name, plan.current.version)).value if plan.current else None
        password = Secret(generate_password(previous=previous.reveal() if previous else None))
        await self.deps.vault_creates.acquire()
        tags = rules.with_status(ref.tags, rules.PENDING, run_id=self.deps.run_id, at=self.deps.now().isoformat())
        info = await self.deps.secrets.set(ref.name, password, tags={**tags, SEQ_TAG: str(plan.next_seq)})
        await self._step("vault_written", uid)
        return await self._apply(uid, ref, info, password, plan.current, plan.next_seq + 1, resolving=False)

    async def _send(self, uid: str, password: Secret, *, resolving: bool) -> Answer:
        body = {"passwordProfile": {"password": password.reveal(), "forceChangePasswordNextSignIn": False}}
        try:
            await self.deps.graph_writes.acquire()
            await self.deps.graph.patch(f"users/{uid}", body, label="users.passwordReset")
        except GraphError as exc:
            unsure = resolving or exc.uncertain
            return judge(exc.status, exc.message, graph_code=exc.graph_code, possibly_applied=unsure)
        except TransientError as exc:  # throttled, failing or unreachable after the adapter's retries
            log.info("password reset of user %s: no definite answer (%s); it stays pending", uid, exc.code)
            return judge(None)
        return judge(204)

    async def _apply(
        self,
        uid: str,
        ref: SecretRef,
        version: SecretVersionInfo,
        password: Secret,
        current: SecretVersionInfo | None,
        next_seq: int,
        *,
        resolving: bool,
    ) -> Outcome:
        answer = await self._send(uid, password, resolving=resolving)
        if answer.verdict is Verdict.UNKNOWN:
            return Outcome("pending", answer.reason, version.version)
        if answer.verdict is Verdict.REFUSED:
            await self._abandon(ref, version, current, next_seq)
            if answer.reason == DENIED:
                return Outcome("denied", DENIED)
            if answer.reason == rules.Skip.NOT_FOUND:
                return Outcome("skipped", rules.Skip.NOT_FOUND)
            return Outcome("failed", answer.reason)
        await self._step("patched", uid)
        await self._step("before_mark_current", uid)
        tags = rules.with_status(version.tags, rules.CURRENT, rotated_at=self.deps.now().isoformat())
        await self.deps.secrets.update_tags(ref.name, version.version, tags)
        await self._step("marked_current", uid)
        if current is not None:
            await self._retag(ref, current, rules.SUPERSEDED)
        await self._announce(uid, ref, version.version)
        return Outcome("resolved" if resolving else "rotated", version=version.version)

    async def _abandon(
        self, ref: SecretRef, version: SecretVersionInfo, current: SecretVersionInfo | None, next_seq: int
    ) -> None:
        """Entra definitely never took the pending password: tag it failed, and write the known current value again
        as the newest version, so a reader of the plain latest version still gets what Entra holds."""
        if current is not None:
            value = (await self.deps.secrets.get(ref.name, current.version)).value
            await self.deps.vault_creates.acquire()
            tags = rules.with_status(ref.tags, rules.CURRENT, restored_from=current.version)
            await self.deps.secrets.set(ref.name, value, tags={**tags, SEQ_TAG: str(next_seq)})
            await self._retag(ref, current, rules.SUPERSEDED)
        await self._retag(ref, version, rules.FAILED)

    async def _retag(self, ref: SecretRef, info: SecretVersionInfo, status: str) -> None:
        await self.deps.secrets.update_tags(ref.name, info.version, rules.with_status(info.tags, status))

    async def _announce(self, uid: str, ref: SecretRef, version: str) -> None:
        message = event(
            "password.rotated", self.connection.id, self.connection.tenant_id, self.deps.run_id, uid, version=version
        )
        await self.deps.queues.publish_events(
            names.DIRECTORY_CHANGES, [{**message, "secret_name": ref.name, "version": version}]
        )
