"""On-prem agents of a connection: one-time registration codes (stored as hashes), registration of an agent's
public keys (idempotent for a retried request), the agents' status with last contact, and removal. Rows live in
the `agents` table (shared/storage_names.py)."""

from __future__ import annotations

import secrets as random_secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.domain.ad_source import require_ad
from shared.domain.agent_protocol import (
    AGENT_ID,
    CODE,
    CODE_TTL_S,
    KEY_B64,
    MAX_CODE_TTL_S,
    agent_status,
    code_hash,
)
from shared.domain.timestamps import to_iso
from shared.errors import AgentRefused, ConcurrencyConflict, NotFound, ValidationError
from shared.services import audit
from shared.services.ad_connection import agents_changed
from shared.services.connections import load
from shared.storage_names import AGENTS

AGENT_PARTITION, CODE_PARTITION = "agent", "code"
NAME_MAX = 64
HOST_MAX = 255  # a DNS name (RFC 1035: 255 octets at most)


def _iso(seconds: float | None) -> str | None:
    return to_iso(datetime.fromtimestamp(seconds, UTC)) if seconds else None


def _fields(body: Any, allowed: set[str]) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError({name: "is not a field of this request" for name in unknown[:10]})
    return body


async def create_code(container: Any, connection_id: str, body: Any, now: float | None = None) -> tuple[int, Any]:
    """201 {code, expires_at}: shown once; only its SHA-256 is stored."""
    fields = _fields(body, {"expires_in_minutes"})
    minutes = fields.get("expires_in_minutes", CODE_TTL_S // 60)
    if type(minutes) is not int or not 5 <= minutes <= MAX_CODE_TTL_S // 60:
        raise ValidationError({"expires_in_minutes": f"must be a whole number from 5 to {MAX_CODE_TTL_S // 60}"})
    connection, _ = await load(container, connection_id)
    require_ad(connection, "An agent registration code")
    now = time.time() if now is None else now
    code = f"adreg_{random_secrets.token_urlsafe(32)}"
    expires_at = now + minutes * 60
    row = {
        "PartitionKey": CODE_PARTITION,
        "RowKey": code_hash(code),
        "connection_id": connection.id,
        "expires_at": expires_at,
        "state": "open",
        "created_by": audit.current_who(),
    }
    await container.tables().insert(AGENTS, row)
    await audit.record(container.tables(), "agent.code", connection.id, "ok", f"expires {_iso(expires_at)}")
    return 201, {"code": code, "connection_id": connection.id, "expires_at": _iso(expires_at)}


def _registration(body: Any) -> dict[str, str]:
    fields = _fields(body, {"code", "name", "host", "version", "signing_key", "encryption_key"})
    problems = {}
    for name, pattern in (("signing_key", KEY_B64), ("encryption_key", KEY_B64)):
        if not isinstance(fields.get(name), str) or not pattern.match(fields[name]):
            problems[name] = "must be a 32-byte public key, base64url"
    for name, limit in (("name", NAME_MAX), ("host", HOST_MAX), ("version", NAME_MAX)):
        value = fields.get(name, "")
        if not isinstance(value, str) or len(value) > limit or not value.isprintable():
            problems[name] = f"must be printable text of at most {limit} characters"
    if not isinstance(fields.get("code"), str) or not CODE.match(fields["code"]):
        problems["code"] = "must be a registration code as created for the connection"
    if problems:
        raise ValidationError(problems)
    return {k: str(fields.get(k, "")) for k in ("code", "name", "host", "version", "signing_key", "encryption_key")}


async def register(container: Any, body: Any, now: float | None = None) -> tuple[int, Any]:
    """201 {agent_id, connection_id}. A code is used once; the same request again (its answer was lost) answers
    the same agent, a different key with a used code is refused."""
    request = _registration(body)
    now = time.time() if now is None else now
    tables = container.tables()
    row = await tables.get(AGENTS, CODE_PARTITION, code_hash(request["code"]))
    refused = AgentRefused("The registration code is unknown, expired or already used", code="registration_refused")
    if row is None:
        raise refused
    if row["state"] == "used":
        if row.get("signing_key") != request["signing_key"]:
            raise refused
        agent_id = str(row["agent_id"])
    else:
        if float(row["expires_at"]) <= now:
            raise refused
        agent_id = uuid.uuid4().hex
        used = {**row, "state": "used", "agent_id": agent_id, "signing_key": request["signing_key"], "used_at": now}
        try:  # the code is spent before the agent exists: a crash here is finished by the retried request
            await tables.update_if_match(AGENTS, used, str(row.metadata.get("etag", "")))
        except ConcurrencyConflict:
            raise refused from None
    connection_id = str(row["connection_id"])
    existing = await tables.get(AGENTS, AGENT_PARTITION, agent_id)
    if existing is None:
        agent = {
            "PartitionKey": AGENT_PARTITION,
            "RowKey": agent_id,
            "connection_id": connection_id,
            "name": request["name"],
            "host": request["host"],
            "version": request["version"],
            "signing_key": request["signing_key"],
            "encryption_key": request["encryption_key"],
            "state": "active",
            "registered_at": now,
            "last_seen": now,
        }
        await tables.upsert(AGENTS, agent)
        await audit.record(tables, "agent.register", connection_id, "ok", f"agent {agent_id} ({request['name']})")
    await agents_changed(container, connection_id)  # pending_agent -> active (a retried request finishes it too)
    return 201, {"agent_id": agent_id, "connection_id": connection_id}


def _view(row: Any, now: float) -> dict[str, Any]:
    return {
        "id": str(row["RowKey"]),
        "name": row.get("name", ""),
        "host": row.get("host", ""),
        "version": row.get("version", ""),
        "status": agent_status(dict(row), now),
        "registered_at": _iso(row.get("registered_at")),
        "last_seen": _iso(row.get("last_seen")),
    }


async def agents_of(container: Any, connection_id: str) -> list[Any]:
    rows = container.tables().query(
        AGENTS, "PartitionKey eq @pk and connection_id eq @cid", {"pk": AGENT_PARTITION, "cid": connection_id}
    )
    return [row async for row in rows]


async def list_agents(container: Any, connection_id: str, now: float | None = None) -> tuple[int, Any]:
    """200 {agents: [...]}: each agent's status (online / offline / removed) and last contact; never a key."""
    connection, _ = await load(container, connection_id)
    now = time.time() if now is None else now
    rows = [row for row in await agents_of(container, connection.id) if row.get("state") == "active"]
    return 200, {"agents": sorted((_view(r, now) for r in rows), key=lambda a: a["id"])}


async def remove_agent(container: Any, connection_id: str, agent_id: str) -> tuple[int, Any]:
    """200: the agent's requests are refused from now on; a job it held is leased again by another agent."""
    connection, _ = await load(container, connection_id)
    tables = container.tables()
    row = await tables.get(AGENTS, AGENT_PARTITION, agent_id) if AGENT_ID.match(agent_id) else None
    if row is None or row.get("connection_id") != connection.id:
        raise NotFound("No such agent")
    if row.get("state") == "active":
        await tables.upsert(AGENTS, {**row, "state": "removed", "removed_at": time.time()})
        await audit.record(tables, "agent.remove", connection.id, "ok", f"agent {agent_id}")
        from shared.services.agent_jobs import release_leases

        await release_leases(container, connection.id, agent_id)
    await agents_changed(container, connection.id)  # the last one gone: pending_agent, the scheduler skips it
    return 200, {"id": agent_id, "connection_id": connection.id, "status": "removed"}
