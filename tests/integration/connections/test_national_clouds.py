"""National clouds end to end: a US Government connection consents (admin consent with the US Government operator app
and scope, then the administrator's OpenID sign-in) and syncs; a tenant of another cloud than the one asked is refused
at creation; a missing US Government operator app is named by consent and by the verify report. Its own stack: a
global tenant and a US Government (L4) tenant."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
import pytest

from emulators.stack import LocalStack, start_local_stack
from scripts.browser import Browser
from shared.composition import Container
from shared.config import load_settings
from shared.services.connections import delete_connection
from shared.storage_names import DIRECTORY_USERS
from tests.functions.invoke import acall
from tests.integration.connections.conftest import SEEN, call, request
from tests.integration.connections.consent_helpers import CALLBACK, recording_invoke, stored


@pytest.fixture(scope="module")
def gov() -> Iterator[LocalStack]:
    """Its own Azurite too: storage and Key Vault go together (the consent signing key's record names a version in
    this stack's vault), so nothing here meets the session stack's rows."""
    with start_local_stack(seed="clouds", size=30, tenants=3, clouds=["global", "usgov", "usgov-dod"]) as local:
        yield local


@pytest.fixture
def gov_tenant(gov: LocalStack) -> dict[str, Any]:
    tenant = gov.entra.tenants[1]
    assert tenant["cloud"] == "usgov"
    return tenant


@pytest.fixture(autouse=True)
def _env(gov: LocalStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Functions here see this module's stack (overrides the package's fixture of the same name)."""
    env = gov.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
async def container(_env: dict[str, str], gov: LocalStack) -> AsyncIterator[Container]:
    """Both operator apps' secrets in Key Vault; every connection made here is deleted (with its data) afterwards."""
    operators = gov.entra.operator_apps()
    SEEN.secrets.update(app["client_secret"] for app in operators.values())
    async with Container(load_settings(_env)) as c:
        await c.secrets().set("operator-app-credential", operators["global"]["client_secret"])
        await c.secrets().set("operator-app-credential-usgov", operators["usgov"]["client_secret"])
        made = set(await _ids(c))
        yield c
        for cid in sorted(set(await _ids(c)) - made):
            await delete_connection(c, cid)  # the row and its tenant-index entry go (a purge is a queued job)
    for tenant in gov.entra.tenants:
        registry = "usgov" if tenant["cloud"].startswith("usgov") else tenant["cloud"]
        gov.entra.control.remove_service_principal(tenant["id"], operators[registry]["client_id"])


async def _ids(container: Container) -> list[str]:
    return [c["id"] for c in (await call("connections_list", request("GET", "connections")))[1]["value"]]


async def _create(tenant: dict[str, Any], cloud: str) -> tuple[int, Any]:
    body = {
        "tenant": tenant["domains"][0],
        "display_name": "Agency",
        "credential_mode": "admin_consent",
        "cloud": cloud,
        "features": {"sync": True},
        "sync_group_id": tenant["sync_group"]["id"],
    }
    status, created, _ = await call("connections_create", request("POST", "connections", body))
    return status, created


async def _consent_link(connection_id: str) -> tuple[int, Any, func.HttpResponse]:
    return await call("consent_start", request("GET", "consent/start", params={"connection": connection_id}))


@pytest.mark.parametrize(
    ("cloud", "scope"),
    [("usgov", "https://graph.microsoft.us/.default"), ("usgov-dod", "https://dod-graph.microsoft.us/.default")],
)
async def test_a_us_government_connection_consents_and_syncs(
    gov: LocalStack, container: Container, cloud: str, scope: str
) -> None:
    """L4 and L5 alike: the US Government registration, each with its own Graph scope."""
    gov_tenant = next(t for t in gov.entra.tenants if t["cloud"] == cloud)
    status, created = await _create(gov_tenant, cloud)
    assert status == 201, created
    assert created["cloud"] == cloud and created["tenant_id"] == gov_tenant["id"]
    status, _, response = await _consent_link(created["id"])
    assert status == 302
    link = response.headers["Location"]
    parts = urlsplit(link)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{gov.entra.login_url}/{gov_tenant['id']}/v2.0/adminconsent"
    )
    query = dict(parse_qsl(parts.query))
    assert query["scope"] == scope  # the tenant's cloud's Graph, not the global one
    assert query["client_id"] == gov.entra.operator_apps()["usgov"]["client_id"] != gov.app("multi_tenant")["client_id"]
    walker = Browser(gov.ca_bundle, invoke=recording_invoke)
    page = await walker.open(link)
    assert page.status == 200 and "Connected" in page.text, page.text
    hops = [url.split("?")[0] for url in page.trail]
    assert hops == [
        f"{gov.entra.login_url}/{gov_tenant['id']}/v2.0/adminconsent",
        CALLBACK,
        f"{gov.entra.login_url}/{gov_tenant['id']}/oauth2/v2.0/authorize",  # the OpenID sign-in leg
        CALLBACK,
    ]
    signin = dict(parse_qsl(urlsplit(page.trail[2]).query))
    assert signin["client_id"] == query["client_id"]  # the sign-in uses the US Government registration too
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "active"
    status, report, _ = await call("connections_verify", request("POST", "x", route={"id": created["id"]}))
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert status == 200 and checks["token"] == checks["permissions"] == checks["sync_group"] == "pass", report
    message = func.QueueMessage(body=json.dumps({"connection_id": created["id"], "mode": "full"}).encode())
    await acall("sync_worker", message)
    _, sync_status, _ = await call("sync_status", request("GET", "x", route={"id": created["id"]}))
    assert sync_status["last_success_at"], sync_status
    truth = gov.entra.control.ground_truth(gov_tenant["id"])
    rows = container.tables().query(DIRECTORY_USERS, "PartitionKey eq @pk", {"pk": created["id"]})
    synced = {r["RowKey"] async for r in rows if r.get("in_scope") and r["status"] != "inactive"}
    assert synced == set(truth["users"]) and synced


@pytest.mark.parametrize(
    ("which", "asked", "named"), [(1, "global", "usgov"), (0, "usgov", "global"), (2, "usgov", "usgov-dod")]
)
async def test_a_tenant_of_another_cloud_is_refused_and_nothing_is_stored(
    gov: LocalStack, container: Container, which: int, asked: str, named: str
) -> None:
    tenant = gov.entra.tenants[which]
    before = await _ids(container)
    status, body = await _create(tenant, asked)
    assert status == 400 and body["code"] == "validation_error", body
    assert set(body["problems"]) == {"cloud"} and f'"cloud": "{named}"' in body["problems"]["cloud"]
    assert await _ids(container) == before
    status, created = await _create(tenant, named)  # the tenant index was never claimed
    assert status == 201, created


async def test_a_missing_us_government_operator_app_is_named_where_it_is_needed(
    gov: LocalStack, container: Container, gov_tenant: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPERATOR_CLIENT_ID_USGOV")
    status, created = await _create(gov_tenant, "usgov")
    assert status == 201, created
    status, body, _ = await _consent_link(created["id"])
    assert body["code"] == "configuration_error" and "OPERATOR_CLIENT_ID_USGOV" in body["message"], body
    assert "OPERATOR_CLIENT_ID:" not in body["message"]  # only the setting this connection's cloud needs
    status, report, _ = await call("connections_verify", request("POST", "x", route={"id": created["id"]}))
    failed = next(c for c in report["checks"] if c["status"] == "fail")
    assert failed["name"] == "operator_app" and "US Government" in failed["detail"], report
    assert "OPERATOR_CLIENT_ID_USGOV" in failed["detail"] and "OPERATOR_CLIENT_ID_USGOV" in failed["remedy"]
    status, global_one = await _create(gov.entra.tenants[0], "global")  # the global cloud needs nothing more
    assert status == 201 and (await _consent_link(global_one["id"]))[0] == 302
    monkeypatch.setenv("OPERATOR_CLIENT_ID_USGOV", gov.entra.operator_apps()["usgov"]["client_id"])
    await container.secrets().delete("operator-app-credential-usgov")
    status, report, _ = await call("connections_verify", request("POST", "x", route={"id": created["id"]}))
    failed = next(c for c in report["checks"] if c["status"] == "fail")
    assert failed["name"] == "operator_app" and "operator-app-credential-usgov" in failed["detail"], report
