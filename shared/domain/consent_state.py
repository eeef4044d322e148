"""The admin-consent `state`: a signed, expiring token bound to one connection and one single-use nonce (pure)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

STATE_TTL_S = 600  # ten minutes
MAX_STATE_CHARS = 512
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class BadState(Exception):
    """The state is missing, malformed, forged or expired; the message says which (never echoing it)."""


@dataclass(frozen=True)
class ConsentState:
    connection_id: str
    nonce: str
    expires_at: int  # unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_state(state: ConsentState, key: bytes) -> str:
    payload = _b64(json.dumps({"c": state.connection_id, "n": state.nonce, "e": state.expires_at}).encode())
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def read_state(token: str | None, key: bytes, now: float) -> ConsentState:
    """Check the signature, then the shape, then the expiry. Raises BadState."""
    if not token:
        raise BadState("the state parameter is missing")
    if len(token) > MAX_STATE_CHARS or token.count(".") != 1:
        raise BadState("the state parameter is malformed")
    payload, mac = token.split(".")
    try:
        expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise BadState("the state parameter was not issued by this app")
        raw = json.loads(_unb64(payload))
    except (binascii.Error, ValueError, UnicodeError):
        raise BadState("the state parameter is malformed") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("c"), str) or not isinstance(raw.get("e"), int):
        raise BadState("the state parameter is malformed")
    nonce = raw.get("n")
    if not isinstance(nonce, str) or not NONCE_PATTERN.match(nonce):
        raise BadState("the state parameter is malformed")
    if raw["e"] <= now:
        raise BadState("the consent link has expired (links work for 10 minutes): start again")
    return ConsentState(connection_id=raw["c"], nonce=nonce, expires_at=raw["e"])
