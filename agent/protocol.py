"""The agent's side of the signed-request protocol: the bytes it signs (the same as the service's
shared/domain/agent_protocol.py; a test compares them) and the headers it sends."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

SIGNATURE_VERSION = "agent-v1"
HEADER_AGENT = "X-Agent-Id"
HEADER_TIME = "X-Agent-Timestamp"
HEADER_NONCE = "X-Agent-Nonce"
HEADER_SIGNATURE = "X-Agent-Signature"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_input(method: str, path: str, agent_id: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([SIGNATURE_VERSION, method.upper(), path, agent_id, timestamp, nonce, digest]).encode()


def signed_headers(key: object, agent_id: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """Headers for one request: a fresh nonce and the current time, signed with the agent's Ed25519 key."""
    timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(18)
    signature = key.sign(signing_input(method, path, agent_id, timestamp, nonce, body))  # type: ignore[attr-defined]
    return {
        HEADER_AGENT: agent_id,
        HEADER_TIME: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: b64(signature),
    }
