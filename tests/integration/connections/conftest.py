"""Fixtures for the connection, consent and verification tests: the stack, the operator secret in Key Vault, and a
record of every response and log line so the last test can prove no secret leaked."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest

from emulators.entra.control import ControlError
from emulators.stack import LocalStack
from scripts.browser import IN_BROWSER
from shared.composition import Container
from shared.config import load_settings
from tests.functions.invoke import acall


@dataclass
class Seen:
    """Everything the suite saw: response bodies and log lines (scanned for secrets at the end)."""

    texts: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


SEEN = Seen()


class _Recorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if IN_BROWSER.get():  # the scripted browser's own HTTP client: it is the admin's browser, not the app
            return
        try:
            SEEN.texts.append(record.getMessage())
        except Exception:  # noqa: BLE001 (a bad log call must not break the suite)
            SEEN.texts.append(str(record.msg))
        if record.exc_info and record.exc_info[1] is not None:
            SEEN.texts.append(repr(record.exc_info[1]))


@pytest.fixture(scope="module", autouse=True)
def record_logs() -> Iterator[None]:
    handler = _Recorder(level=logging.DEBUG)
    root = logging.getLogger()
    http = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")  # the worker quiets it
    old, old_http = root.level, http.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    http.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)
    root.setLevel(old)
    http.setLevel(old_http)


@pytest.fixture(autouse=True)
def _env(stack_env: dict[str, str]) -> dict[str, str]:
    """Every test here runs functions with the stack's settings."""
    return stack_env


@pytest.fixture
def tenant(stack: LocalStack) -> dict[str, Any]:
    """The second tenant: ours to consent, revoke and change (others use the first)."""
    return stack.entra.tenants[1]


@pytest.fixture
async def container(stack_env: dict[str, str], stack: LocalStack) -> AsyncIterator[Container]:
    """A container on the stack, with the operator app's secret in Key Vault and its consent in tenant 1 undone."""
    operator = stack.app("multi_tenant")
    SEEN.secrets.add(operator["client_secret"])
    async with Container(load_settings(stack_env)) as c:
        await c.secrets().set(c.settings.operator_credential_secret_name, operator["client_secret"])
        with contextlib.suppress(ControlError):  # not consented yet
            stack.entra.control.revoke_consent(stack.entra.tenants[1]["id"], operator["client_id"])
        stack.entra.control.set_propagation_delay(0)
        yield c
    stack.entra.control.set_propagation_delay(0)


def request(
    method: str,
    url: str,
    body: Any = None,
    params: dict[str, str] | None = None,
    route: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> func.HttpRequest:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    query = f"?{urlencode(params)}" if params else ""
    return func.HttpRequest(
        method,
        f"http://localhost:7071/api/{url}{query}",
        body=data,
        params=params or {},
        route_params=route or {},
        headers={"Content-Type": "application/json"},
    )


def record_response(response: func.HttpResponse) -> str:
    """Remember a response's body and headers for the secret scan. Set-Cookie is left out: handing a cookie to the
    browser is its purpose (the scan then proves the cookie appears nowhere else)."""
    text = response.get_body().decode("utf-8", "replace")
    SEEN.texts.append(text)
    SEEN.texts.append(json.dumps({k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}))
    return text


async def call(name: str, req: func.HttpRequest) -> tuple[int, Any, func.HttpResponse]:
    """Invoke a registered function; remember its body for the secret scan."""
    response = await acall(name, req)
    text = record_response(response)
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    return response.status_code, body, response
