"""The console's session cookie and sign-in state (pure): round trips, forgery, expiry, strict shapes, safe return
paths, and cookies that hold no token."""

from __future__ import annotations

import base64
import json

import pytest

from shared.domain.console_session import (
    ADMIN_ROLE,
    HOME,
    READER_ROLE,
    BadSession,
    ConsoleUser,
    Flow,
    Session,
    csrf_token,
    open_flow,
    open_session,
    pkce_pair,
    safe_return_path,
    seal_flow,
    seal_session,
    session_cookie,
)

KEY = b"k" * 32
OID = "11111111-2222-4333-8444-555555555555"
TID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
SESSION = Session("s" * 32, OID, TID, "Ada <b>Admin</b>", frozenset({ADMIN_ROLE}), 10_000)


def test_a_sealed_session_opens_with_the_same_key_until_it_expires() -> None:
    value = seal_session(SESSION, KEY)
    assert open_session(value, KEY, 9_999) == SESSION
    with pytest.raises(BadSession, match="expired"):
        open_session(value, KEY, 10_000)
    with pytest.raises(BadSession, match="not issued"):
        open_session(value, b"x" * 32, 1)


def test_a_re_signed_or_edited_session_is_refused() -> None:
    payload, mac = seal_session(SESSION, KEY).split(".")
    raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw["r"] = [ADMIN_ROLE, READER_ROLE]
    edited = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    with pytest.raises(BadSession):
        open_session(f"{edited}.{mac}", KEY, 1)


@pytest.mark.parametrize("junk", ["", "a.b", "x" * 5000, "é.é", seal_session(SESSION, KEY) + "A", "=.=" * 30])
def test_junk_cookies_are_refused(junk: str) -> None:
    with pytest.raises(BadSession):
        open_session(junk, KEY, 1)


def test_a_session_sealed_for_another_purpose_does_not_open_as_a_flow() -> None:
    with pytest.raises(BadSession):
        open_flow(seal_session(SESSION, KEY), KEY, 1)


def test_the_cookie_holds_only_ids_name_roles_and_expiry() -> None:
    payload = seal_session(SESSION, KEY).split(".")[0]
    raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert set(raw) == {"s", "o", "t", "n", "r", "e"}
    assert csrf_token(KEY, SESSION.sid) not in payload


def test_the_session_cookie_attributes() -> None:
    header = session_cookie("v", 60)
    assert header.startswith("__Host-console-session=v; Path=/; Max-Age=60;")
    assert all(part in header for part in ("Secure", "HttpOnly", "SameSite=Strict"))


def test_a_flow_round_trips_and_derives_a_pkce_pair() -> None:
    flow = Flow("n" * 24, "/api/console/connections?x=1", 500)
    assert open_flow(seal_flow(flow, KEY), KEY, 499) == flow
    with pytest.raises(BadSession, match="expired"):
        open_flow(seal_flow(flow, KEY), KEY, 500)
    verifier, challenge = pkce_pair(KEY, flow.nonce)
    assert 43 <= len(verifier) <= 128 and verifier != challenge
    assert pkce_pair(b"y" * 32, flow.nonce)[0] != verifier


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/api/console/connections/1?tab=runs", "/api/console/connections/1?tab=runs"),
        ("/api/console", "/api/console"),
        ("https://evil.example/api/console/", HOME),
        ("//evil.example/api/console/", HOME),
        ("/api/console//evil.example", HOME),
        ("/api/console/\\evil", HOME),
        ("/api/connections", HOME),
        ("/api/console/signin?return=/x", HOME),
        ("/api/console/callback", HOME),
        ("/api/console/a\nb", HOME),
        ("/api/console/" + "a" * 600, HOME),
        (None, HOME),
    ],
)
def test_return_paths_stay_local_to_the_console(raw: str | None, expected: str) -> None:
    assert safe_return_path(raw) == expected


def test_roles_decide_what_a_user_may_do() -> None:
    admin = ConsoleUser(OID, TID, "a", frozenset({ADMIN_ROLE}), "c")
    reader = ConsoleUser(OID, TID, "r", frozenset({READER_ROLE}), "c")
    nobody = ConsoleUser(OID, TID, "n", frozenset(), "c")
    assert (admin.can_act, admin.can_read) == (True, True)
    assert (reader.can_act, reader.can_read) == (False, True)
    assert (nobody.can_act, nobody.can_read) == (False, False)
