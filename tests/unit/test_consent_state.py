"""The consent state: signed, bound to a connection, expiring; anything else is a BadState."""

from __future__ import annotations

import pytest

from shared.domain.consent_page import render_page
from shared.domain.consent_state import BadState, ConsentState, read_state, sign_state

KEY = b"k" * 32
STATE = ConsentState("conn-1", "n" * 32, 1_000)


def test_round_trip() -> None:
    assert read_state(sign_state(STATE, KEY), KEY, now=999) == STATE


@pytest.mark.parametrize("token", [None, "", "a.b.c", "x" * 600, "abc.def", "!!.??"])
def test_malformed(token: str | None) -> None:
    with pytest.raises(BadState):
        read_state(token, KEY, now=0)


def test_forged_and_expired() -> None:
    token = sign_state(STATE, KEY)
    with pytest.raises(BadState, match="not issued"):
        read_state(token, b"other" * 8, now=0)
    payload, mac = token.split(".")
    with pytest.raises(BadState):
        read_state(f"{payload}x.{mac}", KEY, now=0)
    with pytest.raises(BadState, match="expired"):
        read_state(token, KEY, now=1_000)


def test_page_escapes_everything() -> None:
    page = render_page(
        "<script>t</script>", "a & b", [{"name": "<i>", "status": "fail", "detail": '"x"', "remedy": "<b>"}]
    )
    assert "<script>" not in page and "&lt;i&gt;" in page and "&amp;" in page and "&lt;b&gt;" in page
