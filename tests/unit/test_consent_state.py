"""The consent state: signed, bound to a connection and a leg, expiring, parsed strictly; anything else is a BadState.
And the values derived from it (PKCE verifier, OpenID nonce, browser binding)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from shared.domain.consent_page import render_page
from shared.domain.consent_state import (
    BadState,
    ConsentState,
    browser_binding,
    oidc_nonce,
    parse_state,
    pkce_pair,
    read_state,
    sign_state,
    verify_state,
)

KEY = b"k" * 32
CONNECTION = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
STATE = ConsentState(CONNECTION, "n" * 32, 1_000)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_round_trip_for_both_legs() -> None:
    assert read_state(sign_state(STATE, KEY), KEY, now=999) == STATE
    signin = ConsentState(CONNECTION, "n" * 32, 1_000, leg="signin")
    assert read_state(sign_state(signin, KEY), KEY, now=999) == signin
    assert sign_state(signin, KEY) != sign_state(STATE, KEY)


@pytest.mark.parametrize("token", [None, "", "a.b.c", "x" * 600, "abc.def", "!!.??", "e30.", ".AAAA"])
def test_malformed(token: str | None) -> None:
    with pytest.raises(BadState):
        parse_state(token)


@pytest.mark.parametrize("junk", ["!!", "==", "=", "%00", " ", "\n", ".", "A", "AA", "\u00e9"])
def test_junk_after_the_mac_is_refused_before_any_key_is_needed(junk: str) -> None:
    token = sign_state(STATE, KEY)
    with pytest.raises(BadState, match="malformed"):
        parse_state(token + junk)


def test_junk_inside_is_refused() -> None:
    payload, mac = sign_state(STATE, KEY).split(".")
    for bad in (f"{payload}=.{mac}", f" {payload}.{mac}", f"{payload}.{mac[:-1]}", f"{payload}!.{mac}"):
        with pytest.raises(BadState):
            read_state(bad, KEY, now=0)


def test_a_non_canonical_mac_encoding_is_refused() -> None:
    payload, mac = sign_state(STATE, KEY).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(mac[-1])
    twin = mac[:-1] + alphabet[last ^ 1]  # differs only in padding bits: decodes to the same 32 bytes
    assert base64.urlsafe_b64decode(twin + "=") == base64.urlsafe_b64decode(mac + "=")
    with pytest.raises(BadState, match="malformed"):
        parse_state(f"{payload}.{twin}")


def _signed(raw: object) -> str:
    payload = _b64(json.dumps(raw, separators=(",", ":")).encode())
    return f"{payload}.{_b64(hmac.new(KEY, payload.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize(
    "raw",
    [
        [1, 2],
        {"c": CONNECTION, "n": "n" * 32, "e": 1000},  # no leg
        {"c": CONNECTION, "n": "n" * 32, "e": 1000, "l": "consent", "x": 1},  # extra key
        {"c": CONNECTION, "n": "n" * 32, "e": True, "l": "consent"},  # a bool is not a time
        {"c": CONNECTION, "n": "n" * 32, "e": 1000.5, "l": "consent"},
        {"c": "conn-1", "n": "n" * 32, "e": 1000, "l": "consent"},  # not a connection id
        {"c": CONNECTION.upper(), "n": "n" * 32, "e": 1000, "l": "consent"},
        {"c": CONNECTION, "n": "short", "e": 1000, "l": "consent"},
        {"c": CONNECTION, "n": "n" * 32, "e": 1000, "l": "other"},
    ],
)
def test_signed_but_wrong_shape_is_refused(raw: object) -> None:
    with pytest.raises(BadState, match="malformed"):
        read_state(_signed(raw), KEY, now=0)


def test_forged_and_expired() -> None:
    token = sign_state(STATE, KEY)
    parsed = parse_state(token)  # the shape is fine without the key
    with pytest.raises(BadState, match="not issued"):
        verify_state(parsed, b"other" * 8, now=0)
    with pytest.raises(BadState, match="expired"):
        verify_state(parsed, KEY, now=1_000)
    assert verify_state(parsed, KEY, now=0) == STATE


def test_derived_values_are_stable_distinct_and_bound_to_the_key_and_nonce() -> None:
    verifier, challenge = pkce_pair(KEY, "n" * 32)
    assert 43 <= len(verifier) <= 128
    assert challenge == _b64(hashlib.sha256(verifier.encode()).digest())
    assert pkce_pair(KEY, "n" * 32) == (verifier, challenge)
    assert pkce_pair(KEY, "m" * 32)[0] != verifier and pkce_pair(b"o" * 32, "n" * 32)[0] != verifier
    nonce = oidc_nonce(KEY, "n" * 32)
    name, value = browser_binding(KEY, "n" * 32)
    assert len({verifier, nonce, value}) == 3
    assert name.startswith("__Host-") and "n" * 32 not in name and len(value) >= 32


def test_page_escapes_everything() -> None:
    page = render_page(
        "<script>t</script>", "a & b", [{"name": "<i>", "status": "fail", "detail": '"x"', "remedy": "<b>"}]
    )
    assert "<script>" not in page and "&lt;i&gt;" in page and "&amp;" in page and "&lt;b&gt;" in page
