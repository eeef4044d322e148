"""The console's sessions: the signing key (Key Vault), the session row behind each cookie (so sign-out and the
idle limit end a session on the server too, whatever the browser keeps), and the signed-in user of a request."""

from __future__ import annotations

import contextlib
import secrets as random_secrets
from typing import Any

from shared.domain.console_session import (
    ABSOLUTE_S,
    IDLE_S,
    BadSession,
    ConsoleUser,
    Session,
    csrf_token,
    open_session,
    seal_session,
    session_cookie,
)
from shared.domain.secret_names import console_signing_key_ref
from shared.errors import ConcurrencyConflict, NotFound
from shared.services.consent_key import hmac_key
from shared.storage_names import CONSENT_STATES

KEY_ROW = "console"  # row (signing-key, console) records the Key Vault version of the console's key
SESSION_PARTITION = "console-session"  # RK session id: oid, expires_at, seen_at (never a token or the cookie)
SEEN_EVERY_S = 60  # how often a request moves a session's idle clock (a write at most once a minute)


async def console_key(container: Any) -> bytes:
    return await hmac_key(container, console_signing_key_ref(), KEY_ROW)


async def start_session(container: Any, oid: str, tid: str, name: str, roles: frozenset[str], now: float) -> str:
    """A new session's row and its Set-Cookie header value."""
    session = Session(random_secrets.token_urlsafe(24), oid, tid, name[:256], roles, int(now) + ABSOLUTE_S)
    row = {
        "PartitionKey": SESSION_PARTITION,
        "RowKey": session.sid,
        "oid": oid,
        "tid": tid,
        "expires_at": session.expires_at,
        "seen_at": int(now),
    }
    await container.tables().insert(CONSENT_STATES, row)
    return session_cookie(seal_session(session, await console_key(container)), ABSOLUTE_S)


async def session_of(container: Any, cookie: str | None, now: float) -> Session | None:
    """The live session a cookie names: signed by this app, within 8 hours of sign-in, not signed out, and used in
    the last 30 minutes (each use moves the idle clock on); None otherwise (forged, expired, ended)."""
    if not cookie:
        return None
    try:
        session = open_session(cookie, await console_key(container), now)
    except BadSession:
        return None
    tables = container.tables()
    row = await tables.get(CONSENT_STATES, SESSION_PARTITION, session.sid)
    if row is None or row.get("oid") != session.oid:
        return None
    seen = int(row.get("seen_at", 0))
    if seen + IDLE_S <= now:
        await end_session(container, session.sid)
        return None
    if now - seen >= SEEN_EVERY_S:
        with contextlib.suppress(ConcurrencyConflict, NotFound):  # a parallel request moved it: as good
            etag = str(row.metadata.get("etag", ""))
            await tables.update_if_match(CONSENT_STATES, {**row, "seen_at": int(now)}, etag, replace=False)
    return session


async def user_of(container: Any, cookie: str | None, now: float) -> ConsoleUser | None:
    session = await session_of(container, cookie, now)
    return None if session is None else await as_user(container, session)


async def as_user(container: Any, session: Session) -> ConsoleUser:
    csrf = csrf_token(await console_key(container), session.sid)
    return ConsoleUser(session.oid, session.tid, session.name, session.roles, csrf)


async def end_session(container: Any, sid: str) -> None:
    with contextlib.suppress(NotFound):
        await container.tables().delete(CONSENT_STATES, SESSION_PARTITION, sid)
