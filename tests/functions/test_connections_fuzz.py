"""Property tests: malformed JSON, wrong types, huge bodies, Unicode, bad GUIDs and unknown fields sent to every
connections and consent function give a 4xx and store nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.composition import Container
from shared.config import load_settings
from shared.domain.connection_input import CREATE_ONLY, SETTABLE
from shared.domain.secret_names import GUID_PATTERN
from shared.storage_names import AUDIT, CONNECTIONS, CONSENT_STATES
from tests.functions.invoke import call_http

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KNOWN = set(SETTABLE) | set(CREATE_ONLY)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=50))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
bad_guids = st.text(max_size=60).filter(lambda s: not GUID_PATTERN.match(s))
unknown_names = st.text(min_size=1, max_size=40).filter(lambda s: s not in KNOWN)


@st.composite
def invalid_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object with some plausible fields and at least one certainly wrong one."""
    body: dict[str, Any] = draw(st.dictionaries(st.sampled_from(sorted(KNOWN)), values, max_size=6))
    wrong = draw(st.sampled_from(["unknown", "guid", "type", "name"]))
    if wrong == "unknown":
        body[draw(unknown_names)] = draw(values)
    elif wrong == "guid":
        body[draw(st.sampled_from(["sync_group_id", "rotation_group_id", "client_id"]))] = draw(bad_guids)
    elif wrong == "type":
        body[draw(st.sampled_from(["rotation_interval_days", "deletion_threshold", "features", "schedule"]))] = draw(
            st.text(max_size=20)
        )
    else:
        body["display_name"] = draw(st.one_of(st.integers(), st.just(""), st.just("\x00bad"), st.text(min_size=300)))
    return body


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    st.just(b"x" * 70_000),
    st.just(b'{"display_name": "' + ("é" * 40_000).encode() + b'"}'),
    st.just(b"NaN"),
    st.just(b"[" * 5000),
    values.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
    invalid_objects().map(lambda d: json.dumps(d).encode()),
)


def _req(
    method: str, body: bytes = b"", params: dict[str, str] | None = None, route: dict[str, str] | None = None
) -> func.HttpRequest:
    return func.HttpRequest(
        method, "http://localhost:7071/api/x", body=body, params=params or {}, route_params=route or {}
    )


async def _counts(env: dict[str, str]) -> dict[str, int]:
    from shared.client_pool import close_pool

    try:
        async with Container(load_settings(env)) as c:
            return {t: len([r async for r in c.tables().query(t)]) for t in (CONNECTIONS, AUDIT, CONSENT_STATES)}
    finally:
        await close_pool()


@pytest.fixture
def unchanged(stack_env: dict[str, str]) -> Iterator[None]:
    before = asyncio.run(_counts(stack_env))
    yield
    assert asyncio.run(_counts(stack_env)) == before, "a rejected request wrote something"


def _assert_4xx(response: func.HttpResponse) -> None:
    assert 400 <= response.status_code < 500, response.get_body()[:300]


@FUZZ
@given(body=raw_bodies)
def test_create_rejects_bad_bodies(unchanged: None, body: bytes) -> None:
    _assert_4xx(call_http("connections_create", _req("POST", body)))


@FUZZ
@given(body=raw_bodies, connection_id=st.one_of(bad_guids, st.uuids().map(str)))
def test_update_rejects_bad_input(unchanged: None, body: bytes, connection_id: str) -> None:
    _assert_4xx(call_http("connections_update", _req("PATCH", body, route={"id": connection_id})))


@FUZZ
@given(connection_id=st.one_of(bad_guids, st.uuids().map(str)), purge=st.text(max_size=10))
def test_get_delete_verify_reject_bad_ids(unchanged: None, connection_id: str, purge: str) -> None:
    route = {"id": connection_id}
    _assert_4xx(call_http("connections_get", _req("GET", route=route)))
    _assert_4xx(call_http("connections_delete", _req("DELETE", params={"purge": purge}, route=route)))
    _assert_4xx(call_http("connections_verify", _req("POST", route=route)))


@FUZZ
@given(connection_id=st.one_of(bad_guids, st.uuids().map(str)))
def test_consent_start_rejects_bad_connections(unchanged: None, connection_id: str) -> None:
    _assert_4xx(call_http("consent_start", _req("GET", params={"connection": connection_id})))


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["state", "tenant", "admin_consent", "error", "error_description", "zz"]),
        st.text(max_size=600),
        max_size=5,
    )
)
def test_consent_callback_rejects_bad_states(unchanged: None, query: dict[str, str]) -> None:
    response = call_http("consent_callback", _req("GET", params=query))
    _assert_4xx(response)
    assert b"<script" not in response.get_body()
