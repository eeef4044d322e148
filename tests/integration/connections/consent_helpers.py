"""Steps the consent tests share: create an admin-consent connection, start consent, walk the browser through it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.functions as func

from emulators.stack import LocalStack
from scripts.browser import Browser
from shared.composition import Container
from shared.storage_names import AUDIT, CONNECTIONS
from tests.functions.invoke import acall
from tests.integration.connections.conftest import SEEN, call, record_response, request

CALLBACK = "http://localhost:7071/api/consent/callback"


async def create_admin_consent(tenant: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {
        "tenant": tenant["domains"][0],
        "display_name": "Fabrikam <b>HQ</b>",
        "credential_mode": "admin_consent",
        "features": {"sync": True, "rotation": True},
        "sync_group_id": tenant["sync_group"]["id"],
        "rotation_group_id": tenant["rotation_group"]["id"],
        **extra,
    }
    status, created, _ = await call("connections_create", request("POST", "connections", body))
    assert status == 201, created
    return dict(created)


async def start_consent(connection_id: str) -> str:
    status, _, response = await call(
        "consent_start", request("GET", "consent/start", params={"connection": connection_id})
    )
    assert status == 302
    return str(response.headers["Location"])


def state_of(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["state"]


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


async def recording_invoke(name: str, req: func.HttpRequest) -> Any:
    """Invoke a function as the host would and remember what it answered (for the secret scan)."""
    response = await acall(name, req)
    record_response(response)
    return response


def browser(stack: LocalStack, **kwargs: Any) -> Browser:
    """A browser whose cookies end up in the secret scan (they must never appear in a page, log or table)."""
    kwargs.setdefault("invoke", recording_invoke)
    made = Browser(stack.ca_bundle, **kwargs)
    BROWSERS.append(made)
    return made


BROWSERS: list[Browser] = []


def remember_browser_secrets() -> None:
    for made in BROWSERS:
        SEEN.secrets.update(v for v in made.cookies_set.values() if len(v) >= 16)


async def callback(query: dict[str, str], cookies: dict[str, str] | None = None) -> tuple[int, str, Any]:
    """Call the callback function directly with a query (and cookies): a hand-made request, as an attacker would."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())} if cookies else {}
    req = func.HttpRequest(
        "GET", f"{CALLBACK}?{urlencode(query)}", params=query, headers=headers, body=b"", route_params={}
    )
    response = await recording_invoke("consent_callback", req)
    return response.status_code, response.get_body().decode("utf-8", "replace"), response


async def stored(container: Container, connection_id: str) -> dict[str, Any] | None:
    row = await container.tables().get(CONNECTIONS, "connection", connection_id)
    return dict(row) if row else None


async def audit_rows(container: Container, connection_id: str) -> list[dict[str, Any]]:
    rows = container.tables().query(AUDIT, "PartitionKey eq @p", {"p": connection_id})
    return [dict(r) async for r in rows]


async def until_sign_in_answer(stack: LocalStack, link: str, **kwargs: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Walk a consent link through the consent page and the first callback to the administrator's sign-in; stop
    before the sign-in answer reaches the callback. Returns that answer's query and the browser's cookies."""
    walker = browser(stack, **kwargs)
    page = await walker.open(link, stop_at=lambda u: u.startswith(CALLBACK) and "code=" in u)
    assert page.status == 0, page.text
    return query_of(page.url), dict(walker.cookies)


async def signing_key(container: Container) -> bytes:
    """The consent signing key every worker uses (the Key Vault version its record names)."""
    import base64

    from shared.domain.secret_names import consent_signing_key_ref
    from shared.storage_names import CONSENT_STATES

    record = await container.tables().get(CONSENT_STATES, "signing-key", "current")
    assert record is not None
    value = await container.secrets().get(consent_signing_key_ref().name, record["version"])
    return base64.b64decode(value.value.reveal())
