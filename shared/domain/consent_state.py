"""The consent `state`: a signed, expiring token bound to one connection, one single-use nonce and one leg of the
flow (pure), parsed strictly; and the values derived from the key and nonce (PKCE verifier, OpenID nonce, browser
binding), so nothing secret about a flow is ever stored."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Literal

STATE_TTL_S = 600  # ten minutes per leg
MAX_STATE_CHARS = 512
Leg = Literal["consent", "signin", "user"]  # user: a tenant's user signing in to the product (docs/signin.md)
LEGS: tuple[str, ...] = ("consent", "signin", "user")
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# base64url without padding: a JSON payload, a dot, and exactly 43 characters (a 32-byte HMAC-SHA256).
TOKEN = re.compile(r"([A-Za-z0-9_-]{2,460})\.([A-Za-z0-9_-]{43})")
MALFORMED = "the state parameter is malformed"


class BadState(Exception):
    """The state is missing, malformed, forged, expired or for another leg; the message says which (never echoing
    it)."""


@dataclass(frozen=True)
class ConsentState:
    connection_id: str
    nonce: str
    expires_at: int  # unix seconds
    leg: Leg = "consent"


@dataclass(frozen=True)
class ParsedState:
    """A state whose shape is right; its MAC is not checked yet (that needs the key)."""

    payload: str
    mac: bytes
    state: ConsentState


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _strict_unb64(text: str) -> bytes:
    """Decode base64url without padding, refusing any text that is not the one canonical encoding of its bytes."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadState(MALFORMED) from None
    if _b64(data) != text:
        raise BadState(MALFORMED)
    return data


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, payload.encode(), hashlib.sha256).digest()


def sign_state(state: ConsentState, key: bytes) -> str:
    raw = {"c": state.connection_id, "n": state.nonce, "e": state.expires_at, "l": state.leg}
    payload = _b64(json.dumps(raw, separators=(",", ":")).encode())
    return f"{payload}.{_b64(_mac(key, payload))}"


def parse_state(token: str | None) -> ParsedState:
    """Check the shape only (no key needed, so junk costs nothing): exact alphabet and lengths, canonical encodings,
    a JSON object with exactly the expected fields. Raises BadState."""
    if not token:
        raise BadState("the state parameter is missing")
    match = TOKEN.fullmatch(token) if len(token) <= MAX_STATE_CHARS else None
    if match is None:
        raise BadState(MALFORMED)
    payload, mac_text = match.groups()
    mac = _strict_unb64(mac_text)
    try:
        raw = json.loads(_strict_unb64(payload))
    except (ValueError, UnicodeError):
        raise BadState(MALFORMED) from None
    if not isinstance(raw, dict) or set(raw) != {"c", "n", "e", "l"}:
        raise BadState(MALFORMED)
    connection_id, nonce, expires_at, leg = raw["c"], raw["n"], raw["e"], raw["l"]
    if not isinstance(connection_id, str) or not GUID.match(connection_id):
        raise BadState(MALFORMED)
    if not isinstance(nonce, str) or not NONCE_PATTERN.match(nonce):
        raise BadState(MALFORMED)
    if type(expires_at) is not int or expires_at <= 0 or leg not in LEGS:
        raise BadState(MALFORMED)
    return ParsedState(payload, mac, ConsentState(connection_id, nonce, expires_at, leg))


def verify_state(parsed: ParsedState, key: bytes, now: float) -> ConsentState:
    """Check the MAC, then the expiry. Raises BadState."""
    if not hmac.compare_digest(_mac(key, parsed.payload), parsed.mac):
        raise BadState("the state parameter was not issued by this app")
    if parsed.state.expires_at <= now:
        raise BadState("the consent link has expired (links work for 10 minutes): start again")
    return parsed.state


def read_state(token: str | None, key: bytes, now: float) -> ConsentState:
    return verify_state(parse_state(token), key, now)


def _derived(key: bytes, purpose: str, nonce: str) -> str:
    """A value only this app can compute for this flow (HMAC of the purpose and nonce; never stored)."""
    return _b64(hmac.new(key, f"{purpose}|{nonce}".encode(), hashlib.sha256).digest())


def pkce_pair(key: bytes, nonce: str) -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) for the sign-in leg (RFC 7636: 43-128 characters of base64url)."""
    verifier = _derived(key, "pkce", nonce)
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


def oidc_nonce(key: bytes, nonce: str) -> str:
    """The OpenID Connect `nonce` the ID token must carry back."""
    return _derived(key, "oidc-nonce", nonce)


def browser_binding(key: bytes, nonce: str, flow: str = "consent") -> tuple[str, str]:
    """(cookie name, value) set in the browser that came back from the consent page; the sign-in leg must bring it.
    `flow` "signin": the cookie an end-user sign-in sets at its start and its callback checks (docs/signin.md).

    The name is per flow (two flows in one browser do not overwrite each other) and does not reveal the nonce."""
    purpose = "" if flow == "consent" else f"{flow}-"
    name = _derived(key, f"{purpose}cookie-name", nonce)[:12]
    return f"__Host-{flow}-{name}", _derived(key, f"{purpose}browser", nonce)
