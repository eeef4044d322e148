"""Password rotation of AD users through the agent, with Entra's two-phase rule: the new password is made here and
stored in Key Vault as pending first; the job names only users and Key Vault versions (never a password); when an
agent leases the job each password is read from Key Vault and sealed to that agent's key; the agent sets
`unicodePwd`; a confirmed set becomes current, a definite refusal (a policy error, per user with its code) is
abandoned, anything else stays pending and the next rotation sends the same password again."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from shared import storage_names as names
from shared.domain import rotation as rules
from shared.domain.ad_rotation_schedule import state_after
from shared.domain.passwords import generate_password
from shared.domain.rotation_versions import SEQ_TAG, plan_versions
from shared.domain.secret_names import password_ref
from shared.domain.secret_values import Secret
from shared.errors import NotFound, SecretNotFound, ValidationError
from shared.services.agent_seal import seal
from shared.services.connections import load
from shared.services.rotation_state import RotationState
from shared.services.sync_apply import event

log = logging.getLogger(__name__)
MAX_USERS_PER_JOB = 200


async def _versions(secrets: Any, name: str) -> list[Any]:
    try:
        return list(await secrets.versions(name))
    except SecretNotFound:
        return []


async def start_ad_rotation(container: Any, connection_id: str, user_ids: list[str] | None) -> tuple[int, Any]:
    """202 {job_id, users}: every user gets a pending version (a pending one left by an earlier run is sent again,
    the same password), then one job for the agents."""
    from shared.adapters.directory_store import DirectoryStore
    from shared.services.agent_jobs import enqueue

    connection, _ = await load(container, connection_id)
    rows = {str(r["RowKey"]): r async for r in DirectoryStore(container.tables(), connection.id).user_rows()}
    active = sorted(u for u, r in rows.items() if r.get("in_scope") and r.get("status") == "active")
    wanted = active if user_ids is None else [u.lower() for u in user_ids]  # default: every active in-scope user
    if not wanted or len(wanted) > MAX_USERS_PER_JOB:
        raise ValidationError({"users": f"1 to {MAX_USERS_PER_JOB} users per rotation"})
    missing = [u for u in wanted if u not in rows or not rows[u].get("in_scope") or rows[u].get("status") != "active"]
    if missing:
        raise NotFound("No such user in the synced copy (or not active): " + ", ".join(missing[:5]))
    secrets, run_id = container.secrets(), uuid.uuid4().hex
    items = []
    for uid in wanted:
        ref = password_ref(connection.id, uid)
        plan = plan_versions(await _versions(secrets, ref.name))
        for info, status in plan.retag:
            await secrets.update_tags(ref.name, info.version, rules.with_status(info.tags, status))
        if plan.pending is not None:
            items.append({"user_id": uid, "version": plan.pending.version, "resend": True})
            continue
        previous = (await secrets.get(ref.name, plan.current.version)).value.reveal() if plan.current else None
        tags = rules.with_status(ref.tags, rules.PENDING, run_id=run_id, at=datetime.now(UTC).isoformat())
        info = await secrets.set(
            ref.name, Secret(generate_password(previous=previous)), tags={**tags, SEQ_TAG: str(plan.next_seq)}
        )
        items.append({"user_id": uid, "version": info.version, "resend": False})
    pending = [{"PartitionKey": connection.id, "RowKey": i["user_id"], "pending_version": i["version"],
                "needs_resolution": True} for i in items]  # fmt: skip
    await container.tables().upsert_many(names.ROTATION_STATE, pending)
    job_id = await enqueue(container, connection.id, "rotate", {"run_id": run_id, "users": items})
    return 202, {"job_id": job_id, "run_id": run_id, "users": [i["user_id"] for i in items]}


async def seal_for(
    container: Any, agent: dict[str, Any], job_id: str, payload: dict[str, Any], attempt: int = 1
) -> dict[str, Any]:
    """The payload the leasing agent receives: each pending password sealed to its X25519 key (only in this
    answer; never stored). From the second lease on every password counts as re-sent: an agent lost after the DC
    took it may have set it already, so a refusal is checked by a bind (agent/rotate.py)."""
    secrets = container.secrets()
    connection_id = str(agent["connection_id"])
    out = []
    for item in payload["users"]:
        ref = password_ref(connection_id, item["user_id"])
        value = (await secrets.get(ref.name, item["version"])).value.reveal()
        aad = f"{job_id}|{item['user_id']}|{item['version']}"
        resend = bool(item.get("resend")) or attempt > 1
        out.append({**item, "resend": resend, "sealed": seal(str(agent["encryption_key"]), value, aad)})
    return {**payload, "users": out}


async def apply_result(container: Any, connection_id: str, payload: dict[str, Any], result: Any) -> dict[str, Any]:
    """Per user: `set` -> current (and announced); `refused` -> failed, the known current value written again as
    the newest version; anything else (or no answer) -> stays pending. Idempotent for a retried result."""
    connection, _ = await load(container, connection_id)
    answers = {str(a.get("user_id")): a for a in (result or {}).get("users", []) if isinstance(a, dict)}
    secrets, queues = container.secrets(), container.queues()
    tables = container.tables()
    history = RotationState(tables, connection.id)
    now = datetime.now(UTC)
    summary = []
    for item in payload["users"]:
        uid, version = item["user_id"], item["version"]
        answer = answers.get(uid, {})
        ref = password_ref(connection.id, uid)
        plan = plan_versions(await _versions(secrets, ref.name))
        outcome, code = str(answer.get("outcome") or "unknown"), str(answer.get("code") or "")
        if plan.pending is None or plan.pending.version != version:
            outcome = "already_resolved" if outcome in ("set", "refused") else outcome
        elif outcome == "set":
            tags = rules.with_status(plan.pending.tags, rules.CURRENT, rotated_at=now.isoformat())
            await secrets.update_tags(ref.name, version, tags)
            if plan.current is not None:
                await secrets.update_tags(
                    ref.name, plan.current.version, rules.with_status(plan.current.tags, rules.SUPERSEDED)
                )
            message = event("password.rotated", connection.id, connection.tenant_id, payload["run_id"], uid,
                            version=version)  # fmt: skip
            await queues.publish_events(
                names.DIRECTORY_CHANGES, [{**message, "secret_name": ref.name, "version": version}]
            )
        elif outcome == "refused":
            if plan.current is not None:
                value = (await secrets.get(ref.name, plan.current.version)).value
                tags = rules.with_status(ref.tags, rules.CURRENT, restored_from=plan.current.version)
                await secrets.set(ref.name, value, tags={**tags, SEQ_TAG: str(plan.next_seq)})
                await secrets.update_tags(
                    ref.name, plan.current.version, rules.with_status(plan.current.tags, rules.SUPERSEDED)
                )
            await secrets.update_tags(ref.name, version, rules.with_status(plan.pending.tags, rules.FAILED))
        else:
            outcome = "pending"
        mine = plan.pending is not None and plan.pending.version == version
        current = plan.current.version if plan.current else None
        fields = state_after(outcome if mine else "already_resolved", version, now, connection.rotation_interval_days,
                             current=current, other_pending=plan.pending is not None and not mine)  # fmt: skip
        if fields is not None:  # the schedule row the hourly timer reads (shared/services/ad_rotation_schedule.py)
            await tables.upsert(names.ROTATION_STATE, {"PartitionKey": connection.id, "RowKey": uid, **fields})
        recorded = {"set": "rotated", "refused": "failed"}.get(outcome, outcome)
        await history.record(uid, now, str(payload["run_id"]), recorded, code, version)
        summary.append({"user_id": uid, "outcome": outcome, "code": code, "message": str(answer.get("message", ""))})
    return {"run_id": payload["run_id"], "users": summary, "at": time.time()}
