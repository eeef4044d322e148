"""The OpenAPI description (functions/openapi.yaml, served at GET /api/openapi.yaml) is true: it lists exactly the
indexed HTTP functions (route, method, operationId, key or anonymous, path parameters), its request bodies and enums
are the parsers' own, and a schema-driven fuzz run over every operation (a small hypothesis strategy built from the
description: values that fit the schema, values that do not, junk and repeated keys) gets no 5xx, and nothing is
changed by a refused request."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.stack import LocalStack
from shared import storage_names as names
from shared.composition import Container
from shared.config import load_settings
from shared.domain.clouds import CLOUDS
from shared.domain.connection import FREQUENCIES, REMOVAL_BEHAVIOURS, WEEKDAYS
from shared.domain.connection_input import CREATE_ONLY, CREDENTIAL_MODES, MAX_NAME_CHARS, SETTABLE
from shared.services.directory_sync import MODES
from tests.functions.invoke import call_http, registered_functions

METHODS = ("get", "post", "patch", "delete", "put")
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOT_GENERATED = ("client_secret", "certificate", "sync_group_id", "rotation_group_id")  # point outside: below


def _description() -> dict[str, Any]:
    response = call_http("openapi", func.HttpRequest("GET", "/api/openapi.yaml", body=b""))
    assert response.status_code == 200 and response.mimetype == "application/yaml"
    text = response.get_body().decode()
    return dict(json.loads("\n".join(line for line in text.splitlines() if not line.startswith("#"))))


DOC = _description()


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _operations() -> dict[str, tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    """operationId -> (method, path, operation, parameters)."""
    found = {}
    for path, item in DOC["paths"].items():
        shared = [_resolve(p) for p in item.get("parameters", [])]
        for method in METHODS:
            if method in item:
                operation = item[method]
                params = shared + [_resolve(p) for p in operation.get("parameters", [])]
                found[operation["operationId"]] = (method, path, operation, params)
    return found


OPERATIONS = _operations()


def _indexed() -> dict[str, tuple[str, str, str]]:
    """HTTP function name -> (method, /api/route, auth level)."""
    found = {}
    for fn in registered_functions():
        binding = json.loads(fn.get_function_json())["bindings"][0]
        if binding["type"] == "httpTrigger":
            for method in binding["methods"]:
                found[fn.get_function_name()] = (method.lower(), f"/api/{binding['route']}", binding["authLevel"])
    return found


def test_the_description_lists_exactly_the_indexed_http_functions() -> None:
    described = {}
    for name, (method, path, operation, params) in OPERATIONS.items():
        security = operation.get("security", DOC["security"])
        described[name] = (method, path, "ANONYMOUS" if security == [] else "FUNCTION")
        in_path = sorted(p["name"] for p in params if p["in"] == "path")
        assert in_path == sorted(re.findall(r"\{(\w+)\}", path)), name
        assert all(p["required"] for p in params if p["in"] == "path"), name
    assert described == _indexed()


def test_bodies_and_enums_are_the_parsers_own() -> None:
    schemas = DOC["components"]["schemas"]
    assert set(schemas["ConnectionUpdate"]["properties"]) == set(SETTABLE)
    assert set(schemas["ConnectionCreate"]["properties"]) == set(SETTABLE) | set(CREATE_ONLY)
    create = schemas["ConnectionCreate"]["properties"]
    assert create["cloud"]["enum"] == list(CLOUDS)
    assert create["credential_mode"]["enum"] == list(CREDENTIAL_MODES)
    assert create["removal_behaviour"]["enum"] == list(REMOVAL_BEHAVIOURS)
    assert create["display_name"]["maxLength"] == MAX_NAME_CHARS
    assert schemas["Schedule"]["properties"]["frequency"]["enum"] == list(FREQUENCIES)
    assert schemas["Schedule"]["properties"]["weekdays"]["items"]["enum"] == list(WEEKDAYS)
    modes = next(p for p in OPERATIONS["sync_start"][3] if p["name"] == "mode")
    assert modes["schema"]["enum"] == list(MODES)


# --- a small strategy from a JSON schema: values that fit, and values that do not ---------------------------------

junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def fitting(schema: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    schema = _resolve(schema)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([fitting(s, depth) for s in schema["oneOf"]])
    kinds = schema.get("type", "string")
    if isinstance(kinds, list):
        return st.one_of([fitting({**schema, "type": k}, depth) for k in kinds])
    if kinds == "null":
        return st.none()
    if kinds == "boolean":
        return st.booleans()
    if kinds in ("integer", "number"):
        return st.integers(schema.get("minimum", -(10**6)), schema.get("maximum", 10**6))
    if kinds == "array":
        return st.lists(fitting(schema.get("items", {}), depth + 1), min_size=schema.get("minItems", 0), max_size=3)
    if kinds == "object":
        props = {k: v for k, v in schema.get("properties", {}).items() if k not in NOT_GENERATED}
        if not props or depth > 2:
            return st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), st.text(max_size=10), max_size=2)
        return st.fixed_dictionaries({}, optional={k: fitting(v, depth + 1) for k, v in props.items()})
    if schema.get("format") == "uuid":
        return st.uuids().map(str)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 40), 40))


def value(schema: Any) -> st.SearchStrategy[Any]:
    """Mostly values that fit the schema, some that do not."""
    return st.one_of(fitting(schema), fitting(schema), junk)


def as_query(item: Any) -> str:
    return item if isinstance(item, str) else json.dumps(item)


@st.composite
def requests(draw: st.DrawFn, name: str, connection_id: str) -> func.HttpRequest:
    method, path, operation, params = OPERATIONS[name]
    route: dict[str, str] = {}
    query: dict[str, str] = {}
    for param in params:
        if param["in"] == "path":
            real = [connection_id] if param["name"] == "id" and name != "connections_delete" else []
            route[param["name"]] = draw(
                st.sampled_from([*real, "../x", "nope"]) | st.uuids().map(str) | st.text(max_size=40)
            )
        elif param["in"] == "query" and (param.get("required") or draw(st.booleans())):
            query[param["name"]] = as_query(draw(value(param["schema"])))
    body = b""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        shape = draw(st.sampled_from(["fitting", "fitting", "junk", "raw", "repeated"]))
        if shape == "fitting":
            body = json.dumps(draw(fitting(content["schema"]))).encode()
        elif shape == "junk":
            body = json.dumps(draw(junk)).encode()
        elif shape == "raw":
            body = draw(st.binary(max_size=100))
        else:
            body = b'{"display_name": "a", "display_name": "b"}'
    url = "http://localhost:7071" + re.sub(r"\{(\w+)\}", lambda m: route[m.group(1)], path)
    url += f"?{urlencode(query)}" if query else ""
    return func.HttpRequest(method.upper(), url, body=body, params=query, route_params=route)


# --- the fuzz run --------------------------------------------------------------------------------------------------


async def _snapshot(env: dict[str, str], cid: str) -> dict[str, Any]:
    """What a refused request must leave as it was: every connection row, the audit log, consent states, and the
    fuzzed connection's sync and rotation state."""
    from shared.client_pool import close_pool

    def rows(found: list[Any]) -> list[str]:
        return sorted(json.dumps({k: v for k, v in dict(r).items() if k != "Timestamp"}, default=str) for r in found)

    try:
        async with Container(load_settings(env)) as c:
            t = c.tables()
            own = {"pk": cid}
            return {
                "connections": rows([r async for r in t.query(names.CONNECTIONS)]),
                "audit": len([r async for r in t.query(names.AUDIT, "PartitionKey eq @pk", {"pk": "all"})]),
                "consent": len([r async for r in t.query(names.CONSENT_STATES)]),
                "sync": rows([r async for r in t.query(names.SYNC_STATE, "PartitionKey eq @pk", own)]),
                "rotation": rows([r async for r in t.query(names.ROTATION_STATE, "PartitionKey eq @pk", own)]),
            }
    finally:
        await close_pool()


@pytest.fixture
def fuzzed(stack: LocalStack, stack_env: dict[str, str]) -> Iterator[str]:
    """A real connection (customer app with its valid secret) for the fuzz to aim at, besides made-up ids."""
    tenant, app = stack.tenant, stack.app("customer")
    body = {
        "display_name": "Fuzzed",
        "tenant": tenant["id"],
        "credential_mode": "customer_app",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "sync_group_id": tenant["sync_group"]["id"],
        "allow_second_connection": True,
    }
    raw = json.dumps(body).encode()
    response = call_http("connections_create", func.HttpRequest("POST", "/api/connections", body=raw))
    assert response.status_code == 201, response.get_body()
    yield str(json.loads(response.get_body())["id"])


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_fuzz_every_operation_from_the_description(name: str, fuzzed: str, stack_env: dict[str, str]) -> None:
    @FUZZ
    @given(req=requests(name, fuzzed))
    def one(req: func.HttpRequest) -> None:
        before = asyncio.run(_snapshot(stack_env, fuzzed))
        response = call_http(name, req)
        text = response.get_body()[:300]
        assert response.status_code < 500, (name, req.method, req.url, text)
        if 400 <= response.status_code < 500:
            assert asyncio.run(_snapshot(stack_env, fuzzed)) == before, ("a refused request changed", name, text)

    one()
