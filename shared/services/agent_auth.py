"""Authenticating an agent's request by its Ed25519 signature: a registered, active agent; a timestamp within the
skew; a nonce never seen (stored before the request is served, so a replay loses the insert race); the signature
over method, path, agent, time, nonce and body hash. Function keys are not used: see docs/ad-agent.md."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping
from typing import Any

from shared.domain.agent_protocol import (
    AGENT_ID,
    CLOCK_SKEW_S,
    HEADER_AGENT,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    NONCE,
    signing_input,
    timestamp_problem,
)
from shared.errors import AgentRefused, Conflict
from shared.storage_names import AGENT_NONCES, AGENTS

log = logging.getLogger(__name__)
AGENT_PARTITION = "agent"
NONCE_CLEANUP = 100  # expired nonces removed per poll, at most


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def _nonce_row(agent_id: str, connection_id: str, timestamp: str, nonce: str) -> dict[str, Any]:
    return {
        "PartitionKey": agent_id,
        "RowKey": f"{int(timestamp):012d}_{nonce}",
        "connection_id": connection_id,
    }


async def authenticate(
    container: Any, method: str, path: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> dict[str, Any]:
    """The agent's row, or AgentRefused naming why (never echoing what was sent)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    now = time.time() if now is None else now
    agent_id, timestamp = _header(headers, HEADER_AGENT), _header(headers, HEADER_TIME)
    nonce, signature = _header(headers, HEADER_NONCE), _header(headers, HEADER_SIGNATURE)
    if not AGENT_ID.match(agent_id) or not NONCE.match(nonce) or not signature:
        raise AgentRefused("The request is not signed by an agent", code="agent_unsigned")
    problem = timestamp_problem(timestamp, now)
    if problem:
        raise AgentRefused(f"The signed request is refused: {problem}", code="agent_clock_skew")
    tables = container.tables()
    row = await tables.get(AGENTS, AGENT_PARTITION, agent_id)
    if row is None or row.get("state") != "active":
        raise AgentRefused("The agent is not registered, or was removed: register it again", code="agent_unknown")
    try:
        key = Ed25519PublicKey.from_public_bytes(_b64(str(row["signing_key"])))
        key.verify(_b64(signature), signing_input(method, path, agent_id, timestamp, nonce, body))
    except (InvalidSignature, ValueError):
        raise AgentRefused("The request's signature does not verify", code="agent_signature_invalid") from None
    try:
        await tables.insert(AGENT_NONCES, _nonce_row(agent_id, str(row["connection_id"]), timestamp, nonce))
    except Conflict:
        raise AgentRefused("The request was already received once (replay)", code="agent_replay") from None
    return dict(row)


async def forget_old_nonces(container: Any, agent_id: str, now: float | None = None) -> int:
    """Nonces older than twice the skew can no longer be replayed (the timestamp check refuses them): removed."""
    now = time.time() if now is None else now
    cutoff = f"{int(now - 2 * CLOCK_SKEW_S):012d}"
    tables = container.tables()
    old = tables.query(AGENT_NONCES, "PartitionKey eq @pk and RowKey lt @cut", {"pk": agent_id, "cut": cutoff})
    keys = []
    async for row in old:
        keys.append((agent_id, str(row["RowKey"])))
        if len(keys) >= NONCE_CLEANUP:
            break
    return await tables.delete_many(AGENT_NONCES, keys) if keys else 0
