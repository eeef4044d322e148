"""The console's session cookie and sign-in flow state (pure): HMAC-SHA256-signed, expiring values parsed strictly,
holding no token (only oid, tid, name, roles, a session id and times); the flow's PKCE verifier, OpenID nonce and
browser binding are derived from the key and the flow's nonce, so nothing secret about a sign-in is stored or sent."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

ADMIN_ROLE = "Connector.Admin"
READER_ROLE = "Connector.Reader"
CONSOLE_ROLES = frozenset({ADMIN_ROLE, READER_ROLE})
SESSION_COOKIE = "__Host-console-session"
FLOW_COOKIE = "__Host-console-flow"
IDLE_S = 30 * 60  # a session unused for 30 minutes ends
ABSOLUTE_S = 8 * 3600  # and every session ends 8 hours after sign-in
FLOW_TTL_S = 600  # a sign-in must come back within 10 minutes
MAX_COOKIE_CHARS = 1600
HOME = "/api/console/"
SIGNIN_PATH = "/api/console/signin"
_SIGNED = re.compile(r"([A-Za-z0-9_-]{2,1500})\.([A-Za-z0-9_-]{43})")
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SAFE_PATH = re.compile(r"^/api/console(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$")


class BadSession(Exception):
    """A cookie or state that is missing, malformed, forged or expired (the message says which, never echoing it)."""


@dataclass(frozen=True)
class Session:
    sid: str  # random; names the session's row (so sign-out and idle expiry end it on the server too)
    oid: str
    tid: str
    name: str
    roles: frozenset[str]
    expires_at: int  # absolute end, unix seconds


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in operator admin a console page serves: `csrf` goes into every form that changes anything."""

    oid: str
    tid: str
    name: str
    roles: frozenset[str]
    csrf: str

    @property
    def can_act(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def can_read(self) -> bool:
        return bool(self.roles & CONSOLE_ROLES)


@dataclass(frozen=True)
class Flow:
    nonce: str  # random per sign-in; the verifier, OpenID nonce and browser binding derive from it
    return_to: str  # a safe local path under /api/console
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadSession("malformed") from None
    if _b64(data) != text:
        raise BadSession("malformed")
    return data


def _mac(key: bytes, purpose: str, payload: str) -> bytes:
    return hmac.new(key, f"{purpose}|{payload}".encode(), hashlib.sha256).digest()


def _seal(key: bytes, purpose: str, raw: dict[str, object]) -> str:
    payload = _b64(json.dumps(raw, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_mac(key, purpose, payload))}"


def check_shape(value: str | None) -> tuple[str, bytes]:
    """(payload, MAC) of a signed value of the right shape; BadSession otherwise (no key needed: junk costs
    nothing, not even reading the key)."""
    if not value:
        raise BadSession("missing")
    match = _SIGNED.fullmatch(value) if len(value) <= MAX_COOKIE_CHARS else None
    if match is None:
        raise BadSession("malformed")
    return match.group(1), _unb64(match.group(2))


def _open(key: bytes, purpose: str, value: str | None, fields: set[str]) -> dict[str, object]:
    """The payload of a value this app sealed for `purpose`: shape first, then the MAC, then the fields."""
    payload, mac = check_shape(value)
    if not hmac.compare_digest(_mac(key, purpose, payload), mac):
        raise BadSession("not issued by this app")
    try:
        raw = json.loads(_unb64(payload))
    except (ValueError, UnicodeError):
        raise BadSession("malformed") from None
    if not isinstance(raw, dict) or set(raw) != fields:
        raise BadSession("malformed")
    return raw


def seal_session(session: Session, key: bytes) -> str:
    raw: dict[str, object] = {
        "s": session.sid,
        "o": session.oid,
        "t": session.tid,
        "n": session.name,
        "r": sorted(session.roles),
        "e": session.expires_at,
    }
    return _seal(key, "console-session", raw)


def open_session(value: str | None, key: bytes, now: float) -> Session:
    """The session a cookie holds, if this app signed it and its absolute lifetime has not ended; else BadSession."""
    raw = _open(key, "console-session", value, {"s", "o", "t", "n", "r", "e"})
    sid, oid, tid, name, roles, expires_at = raw["s"], raw["o"], raw["t"], raw["n"], raw["r"], raw["e"]
    if not (isinstance(sid, str) and _ID.match(sid) and isinstance(oid, str) and _GUID.match(oid)):
        raise BadSession("malformed")
    if not (isinstance(tid, str) and _GUID.match(tid) and isinstance(name, str) and len(name) <= 256):
        raise BadSession("malformed")
    if not (isinstance(roles, list) and all(r in CONSOLE_ROLES for r in roles)) or type(expires_at) is not int:
        raise BadSession("malformed")
    if expires_at <= now:
        raise BadSession("expired")
    return Session(sid, oid, tid, name, frozenset(str(r) for r in roles), expires_at)


def seal_flow(flow: Flow, key: bytes) -> str:
    return _seal(key, "console-flow", {"n": flow.nonce, "r": flow.return_to, "e": flow.expires_at})


def open_flow(value: str | None, key: bytes, now: float) -> Flow:
    """The sign-in flow a `state` names, if this app issued it less than FLOW_TTL_S ago; else BadSession."""
    raw = _open(key, "console-flow", value, {"n", "r", "e"})
    nonce, return_to, expires_at = raw["n"], raw["r"], raw["e"]
    if not (isinstance(nonce, str) and _ID.match(nonce)) or type(expires_at) is not int:
        raise BadSession("malformed")
    if not isinstance(return_to, str) or safe_return_path(return_to) != return_to:
        raise BadSession("malformed")
    if expires_at <= now:
        raise BadSession("expired")
    return Flow(nonce, return_to, expires_at)


def derived(key: bytes, purpose: str, value: str) -> str:
    """A value only this app can compute (HMAC of purpose and value; never stored, 43 base64url characters)."""
    return _b64(hmac.new(key, f"console|{purpose}|{value}".encode(), hashlib.sha256).digest())


def pkce_pair(key: bytes, nonce: str) -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) of one sign-in (RFC 7636)."""
    verifier = derived(key, "pkce", nonce)
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


def csrf_token(key: bytes, sid: str) -> str:
    """The session's anti-forgery token (synchronizer token: derived, so nothing to store)."""
    return derived(key, "csrf", sid)


def safe_return_path(raw: str | None) -> str:
    """A local path under /api/console to come back to after sign-in; the console's home for anything else
    (absolute or scheme-relative URLs, backslashes, control characters, the sign-in routes themselves)."""
    if not raw or len(raw) > 512 or "\\" in raw or "//" in raw or not _SAFE_PATH.match(raw):
        return HOME
    path = urlsplit(raw).path
    if path.startswith(("/api/console/signin", "/api/console/callback", "/api/console/signout")):
        return HOME
    return raw


def session_cookie(value: str, max_age: int) -> str:
    """The session cookie: HttpOnly, Secure, SameSite=Strict, host-only (__Host-), no longer than the session."""
    return f"{SESSION_COOKIE}={value}; Path=/; Max-Age={max(0, max_age)}; Secure; HttpOnly; SameSite=Strict"


def flow_cookie(value: str, max_age: int = FLOW_TTL_S) -> str:
    """The sign-in's browser binding: SameSite=Lax, because it must come back on Entra's cross-site redirect."""
    return f"{FLOW_COOKIE}={value}; Path=/; Max-Age={max(0, max_age)}; Secure; HttpOnly; SameSite=Lax"
