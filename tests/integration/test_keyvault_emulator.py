"""The Key Vault emulator answers the real azure-keyvault-secrets clients (async and sync) over HTTPS like Key Vault."""

from __future__ import annotations

import json
import os
import select
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.secrets.aio import SecretClient

from emulators.common.processes import stop_process
from emulators.common.tokens import TokenSigner
from emulators.keyvault.rules import DELETE_DELAY_S
from tests.support.keyvault import KeyVaultStack

API = "api-version=7.6"
REPO = Path(__file__).resolve().parents[2]


def error_of(exc: HttpResponseError) -> dict[str, Any]:
    assert exc.response is not None
    body: dict[str, Any] = json.loads(exc.response.text())["error"]
    return body


def retry_after_of(exc: HttpResponseError) -> str:
    response: Any = exc.response
    return str(response.headers["Retry-After"])


async def raw(
    kv: KeyVaultStack, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = ssl.create_default_context(cafile=kv.ca_path)
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{kv.vault_url}{path}", headers=headers, json=body, ssl=context) as response,
    ):
        text = await response.text()
        return response.status, dict(response.headers), json.loads(text) if text else None


def token_for(kv: KeyVaultStack, signer: TokenSigner | None = None, **overrides: Any) -> str:
    claims = {"tid": kv.tenant, "aud": "https://vault.azure.net", "appid": kv.client_id, "oid": kv.object_id}
    claims.update(overrides)
    return (signer or kv.identity.signer).issue(claims)


# --- secrets: set, get, versions, list, update ---------------------------------------------------------------


async def test_set_makes_a_new_version_each_time_and_get_reads_latest_or_any(
    secret_client: SecretClient, keyvault: KeyVaultStack
) -> None:
    first = await secret_client.set_secret("db-password", "one", tags={"kind": "password"})
    keyvault.control.advance_clock(1)
    second = await secret_client.set_secret("db-password", "two", content_type="text/plain")
    assert first.properties.version != second.properties.version
    assert len(second.properties.version or "") == 32
    assert second.id == f"{keyvault.vault_url}/secrets/db-password/{second.properties.version}"
    latest = await secret_client.get_secret("db-password")
    assert (latest.value, latest.properties.version) == ("two", second.properties.version)
    assert latest.properties.content_type == "text/plain" and latest.properties.tags is None
    old = await secret_client.get_secret("db-password", first.properties.version)
    assert (old.value, old.properties.tags) == ("one", {"kind": "password"})
    assert old.properties.recovery_level == "Recoverable+Purgeable"
    assert old.properties.created_on is not None and latest.properties.created_on is not None
    assert latest.properties.created_on - old.properties.created_on == timedelta(seconds=1)
    assert keyvault.control.counters()["set"] == 2


async def test_versions_are_listed_by_version_id_across_pages(
    secret_client: SecretClient, keyvault: KeyVaultStack
) -> None:
    """Key Vault lists versions in its own order (by version id), not by creation time: callers must sort."""
    keyvault.control.set_page_size(2)
    written = []
    for i in range(5):
        written.append((await secret_client.set_secret("rotating", f"v{i}")).properties.version)
        keyvault.control.advance_clock(1)
    listed = [p async for p in secret_client.list_properties_of_secret_versions("rotating")]
    assert [p.version for p in listed] == sorted(written)
    assert keyvault.control.counters()["list_versions"] == 3  # 2 + 2 + 1: the client followed nextLink twice
    created = {p.version: p.created_on for p in listed}
    assert sorted(written, key=lambda v: created[v] or datetime.min.replace(tzinfo=UTC)) == written


async def test_list_secrets_pages_with_next_link_and_max_page_size(
    secret_client: SecretClient, keyvault: KeyVaultStack
) -> None:
    names = [f"s-{i:02d}" for i in range(7)]
    for name in names:
        await secret_client.set_secret(name, "x")
    listed = [p async for p in secret_client.list_properties_of_secrets(max_page_size=3)]
    assert sorted(str(p.name) for p in listed) == names
    assert all(p.version is None and str(p.id).endswith(f"/secrets/{p.name}") for p in listed)
    assert keyvault.control.counters()["list"] == 3


async def test_max_page_size_above_25_is_a_bad_parameter(secret_client: SecretClient) -> None:
    with pytest.raises(HttpResponseError) as caught:
        _ = [p async for p in secret_client.list_properties_of_secrets(max_page_size=26)]
    assert caught.value.status_code == 400 and error_of(caught.value)["code"] == "BadParameter"


async def test_update_properties_changes_tags_enabled_expiry_and_content_type(
    secret_client: SecretClient, keyvault: KeyVaultStack
) -> None:
    created = await secret_client.set_secret("updatable", "v", tags={"a": "1"})
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    updated = await secret_client.update_secret_properties(
        "updatable",
        created.properties.version,
        tags={"b": "2"},
        expires_on=expires,
        content_type="application/x-pem-file",
    )
    assert (updated.tags, updated.expires_on, updated.content_type) == ({"b": "2"}, expires, "application/x-pem-file")
    assert updated.version == created.properties.version
    got = await secret_client.get_secret("updatable")
    assert (got.value, got.properties.tags, got.properties.expires_on) == ("v", {"b": "2"}, expires)
    disabled = await secret_client.update_secret_properties("updatable", enabled=False)  # latest version
    assert disabled.enabled is False
    with pytest.raises(HttpResponseError) as caught:
        await secret_client.get_secret("updatable")
    assert caught.value.status_code == 403
    assert error_of(caught.value)["innererror"]["code"] == "SecretDisabled"
    listed = [p async for p in secret_client.list_properties_of_secrets()]
    assert [(p.name, p.enabled) for p in listed] == [("updatable", False)]


async def test_missing_secrets_and_versions_are_secret_not_found(secret_client: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        await secret_client.get_secret("never-set")
    assert error_of(caught.value)["code"] == "SecretNotFound"
    await secret_client.set_secret("once", "v")
    with pytest.raises(ResourceNotFoundError):
        await secret_client.get_secret("once", "0" * 32)
    with pytest.raises(ResourceNotFoundError):
        await secret_client.update_secret_properties("never-set", tags={})
    with pytest.raises(ResourceNotFoundError):
        await secret_client.get_deleted_secret("once")


async def test_names_are_case_insensitive(secret_client: SecretClient) -> None:
    await secret_client.set_secret("MixedCase", "one")
    await secret_client.set_secret("mixedcase", "two")
    assert (await secret_client.get_secret("MIXEDCASE")).value == "two"


@pytest.mark.parametrize(("name", "value"), [("bad_name", "v"), ("x" * 128, "v"), ("too-big", "x" * 25_601)])
async def test_invalid_names_and_oversized_values_are_bad_parameters(
    secret_client: SecretClient, name: str, value: str
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        await secret_client.set_secret(name, value)
    assert caught.value.status_code == 400 and error_of(caught.value)["code"] == "BadParameter"


async def test_a_value_of_exactly_25k_is_accepted(secret_client: SecretClient) -> None:
    await secret_client.set_secret("big", "x" * 25_600)
    assert len((await secret_client.get_secret("big")).value or "") == 25_600


async def test_content_type_is_at_most_255_characters(secret_client: SecretClient, keyvault: KeyVaultStack) -> None:
    await secret_client.set_secret("typed", "v", content_type="t" * 255)
    with pytest.raises(HttpResponseError) as caught:
        await secret_client.set_secret("typed", "v", content_type="t" * 256)
    assert caught.value.status_code == 400 and error_of(caught.value)["code"] == "BadParameter"
    with pytest.raises(HttpResponseError) as caught:
        await secret_client.update_secret_properties("typed", content_type="t" * 256)
    assert caught.value.status_code == 400 and error_of(caught.value)["code"] == "BadParameter"
    assert len([p async for p in secret_client.list_properties_of_secret_versions("typed")]) == 1
    assert keyvault.control.counters()["set"] == 1


@pytest.mark.parametrize(
    ("why", "tags"),
    [
        ("16 tags", {f"t{i}": "v" for i in range(16)}),
        ("a 513-character name", {"n" * 513: "v"}),
        ("a 257-character value", {"t": "v" * 257}),
    ],
)
async def test_tag_limits_are_bad_parameters(
    secret_client: SecretClient, keyvault: KeyVaultStack, why: str, tags: dict[str, str]
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        await secret_client.set_secret("tagged", "v", tags=tags)
    assert caught.value.status_code == 400 and error_of(caught.value)["code"] == "BadParameter", why
    await secret_client.set_secret("tagged", "v", tags={"t": "v"})
    with pytest.raises(HttpResponseError) as caught:
        await secret_client.update_secret_properties("tagged", tags=tags)
    assert caught.value.status_code == 400, why
    assert keyvault.control.counters()["set"] == 1


async def test_tags_at_the_limits_are_accepted(secret_client: SecretClient) -> None:
    tags = {f"{i:02d}" + "n" * 510: "v" * 256 for i in range(15)}
    stored = await secret_client.set_secret("full-tags", "v", tags=tags)
    assert stored.properties.tags == tags


async def test_a_disabled_version_cannot_be_read(secret_client: SecretClient) -> None:
    first = await secret_client.set_secret("switched-off", "one")
    await secret_client.set_secret("switched-off", "two")
    await secret_client.update_secret_properties("switched-off", first.properties.version, enabled=False)
    with pytest.raises(HttpResponseError) as caught:
        await secret_client.get_secret("switched-off", first.properties.version)
    error = error_of(caught.value)
    assert caught.value.status_code == 403
    assert (error["code"], error["innererror"]["code"]) == ("Forbidden", "SecretDisabled")
    assert error["message"].startswith("Operation get is not allowed on a disabled secret")
    assert (await secret_client.get_secret("switched-off")).value == "two"  # the other version still reads


# --- soft delete, recovery, purge -------------------------------------------------------------------------


async def test_a_delete_completes_only_after_the_delay(keyvault: KeyVaultStack) -> None:
    """The secret leaves the active collection at once and reaches the deleted state DELETE_DELAY_S later; until
    then GET /deletedsecrets is 404 and set, recover and purge of the name are 409 'currently being deleted'."""
    token = token_for(keyvault)
    assert (await raw(keyvault, "PUT", f"/secrets/pending?{API}", token, {"value": "v"}))[0] == 200
    status, _, body = await raw(keyvault, "DELETE", f"/secrets/pending?{API}", token)
    assert status == 200 and body["recoveryId"] == f"{keyvault.vault_url}/deletedsecrets/pending"
    for method, path in (
        ("GET", "/secrets/pending/"),
        ("GET", "/deletedsecrets/pending"),
        ("DELETE", "/secrets/pending"),
    ):
        status, _, body = await raw(keyvault, method, f"{path}?{API}", token)
        assert (status, body["error"]["code"]) == (404, "SecretNotFound"), (method, path)
    for method, path, payload in (
        ("PUT", "/secrets/pending", {"value": "again"}),
        ("POST", "/deletedsecrets/pending/recover", None),
        ("DELETE", "/deletedsecrets/pending", None),
    ):
        status, _, body = await raw(keyvault, method, f"{path}?{API}", token, payload)
        assert (status, body["error"]["code"]) == (409, "Conflict"), (method, path)
        assert body["error"]["innererror"]["code"] == "ObjectIsBeingDeleted"
        assert "is currently being deleted" in body["error"]["message"]
    assert (await raw(keyvault, "GET", f"/deletedsecrets?{API}", token))[2]["value"] == []
    assert keyvault.control.snapshot()["deleting"] == ["pending"]
    keyvault.control.advance_clock(DELETE_DELAY_S - 0.5)
    assert (await raw(keyvault, "GET", f"/deletedsecrets/pending?{API}", token))[0] == 404
    keyvault.control.advance_clock(0.5)
    status, _, body = await raw(keyvault, "GET", f"/deletedsecrets/pending?{API}", token)
    assert status == 200 and body["recoveryId"].endswith("/deletedsecrets/pending")
    status, _, body = await raw(keyvault, "PUT", f"/secrets/pending?{API}", token, {"value": "again"})
    assert (status, body["error"]["innererror"]["code"]) == (409, "ObjectIsDeletedButRecoverable")
    assert (await raw(keyvault, "DELETE", f"/deletedsecrets/pending?{API}", token))[0] == 204
    assert keyvault.control.snapshot() == {"secrets": {}, "deleted": [], "deleting": []}


async def test_the_sdk_delete_poller_waits_for_the_default_delay(
    secret_client: SecretClient, keyvault: KeyVaultStack
) -> None:
    """Real time, the default delay: delete_secret polls GET /deletedsecrets (every 2 s) until the delete has
    completed, so a purge right after it is accepted."""
    assert keyvault.control.delete_delay == DELETE_DELAY_S > 0
    await secret_client.set_secret("slow-delete", "v")
    deleted = await secret_client.delete_secret("slow-delete")
    assert deleted.name == "slow-delete"
    assert keyvault.control.snapshot()["deleted"] == ["slow-delete"]
    await secret_client.purge_deleted_secret("slow-delete")
    assert keyvault.control.counters()["purge"] == 1


async def test_soft_delete_then_get_deleted_then_recover(secret_client: SecretClient, keyvault: KeyVaultStack) -> None:
    keyvault.control.set_delete_delay(0)  # about recovery; the delay has its own tests above
    v1 = await secret_client.set_secret("recoverable", "one")
    v2 = await secret_client.set_secret("recoverable", "two")
    deleted = await secret_client.delete_secret("recoverable")
    assert deleted.recovery_id == f"{keyvault.vault_url}/deletedsecrets/recoverable"
    assert deleted.deleted_date is not None and deleted.scheduled_purge_date is not None
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=90)
    with pytest.raises(ResourceNotFoundError):
        await secret_client.get_secret("recoverable")
    assert [p.name async for p in secret_client.list_properties_of_secrets()] == []
    fetched = await secret_client.get_deleted_secret("recoverable")
    assert fetched.properties.version == v2.properties.version
    assert [d.name async for d in secret_client.list_deleted_secrets()] == ["recoverable"]
    recovered = await secret_client.recover_deleted_secret("recoverable")
    assert recovered.version == v2.properties.version
    assert (await secret_client.get_secret("recoverable")).value == "two"
    assert (await secret_client.get_secret("recoverable", v1.properties.version)).value == "one"
    assert [d async for d in secret_client.list_deleted_secrets()] == []


async def test_a_deleted_name_conflicts_until_purged_then_can_be_set_again(
    secret_client: SecretClient, keyvault: KeyVaultStack
) -> None:
    keyvault.control.set_delete_delay(0)  # about the deleted state; the delay has its own tests above
    await secret_client.set_secret("reused", "old")
    await secret_client.delete_secret("reused")
    with pytest.raises(ResourceExistsError) as caught:
        await secret_client.set_secret("reused", "new")
    error = error_of(caught.value)
    assert (error["code"], error["innererror"]["code"]) == ("Conflict", "ObjectIsDeletedButRecoverable")
    await secret_client.purge_deleted_secret("reused")
    with pytest.raises(ResourceNotFoundError):
        await secret_client.get_deleted_secret("reused")
    with pytest.raises(ResourceNotFoundError):
        await secret_client.recover_deleted_secret("reused")
    fresh = await secret_client.set_secret("reused", "new")
    versions = [p.version async for p in secret_client.list_properties_of_secret_versions("reused")]
    assert versions == [fresh.properties.version]


async def test_deleting_or_purging_what_is_not_there_is_not_found(secret_client: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        await secret_client.delete_secret("ghost")
    with pytest.raises(ResourceNotFoundError):
        await secret_client.purge_deleted_secret("ghost")


async def test_deleted_secrets_are_purged_when_retention_ends(
    secret_client: SecretClient, keyvault: KeyVaultStack
) -> None:
    keyvault.control.set_delete_delay(0)  # about retention; the delay has its own tests above
    await secret_client.set_secret("short-lived", "v")
    await secret_client.delete_secret("short-lived")
    keyvault.control.advance_clock(89 * 86400)
    assert (await secret_client.get_deleted_secret("short-lived")).name == "short-lived"
    keyvault.control.advance_clock(2 * 86400)
    with pytest.raises(ResourceNotFoundError):
        await secret_client.get_deleted_secret("short-lived")
    await secret_client.set_secret("short-lived", "new life")


# --- authentication and authorization ---------------------------------------------------------------------


async def test_a_request_without_a_token_gets_the_challenge(keyvault: KeyVaultStack) -> None:
    status, headers, body = await raw(keyvault, "GET", f"/secrets?{API}")
    assert status == 401
    assert headers["WWW-Authenticate"] == (
        f'Bearer authorization="{keyvault.identity.authority}/{keyvault.tenant}", resource="https://vault.azure.net"'
    )
    assert body["error"]["code"] == "Unauthorized"
    assert keyvault.control.counters().get("list", 0) == 0


@pytest.mark.parametrize(
    ("why", "overrides", "foreign_signer"),
    [
        ("signed by another key", {}, True),
        ("for another resource", {"aud": "https://graph.microsoft.com"}, False),
        ("from another tenant", {"tid": "11111111-2222-3333-4444-555555555555"}, False),
        ("expired", {"exp": 1_000_000_000}, False),
    ],
)
async def test_invalid_tokens_are_refused(
    keyvault: KeyVaultStack, why: str, overrides: dict[str, Any], foreign_signer: bool
) -> None:
    token = token_for(keyvault, TokenSigner() if foreign_signer else None, **overrides)
    status, headers, body = await raw(keyvault, "PUT", f"/secrets/x?{API}", token, {"value": "v"})
    assert status == 401, why
    assert "WWW-Authenticate" in headers
    assert body["error"]["code"] == "Unauthorized"
    assert keyvault.control.counters().get("set", 0) == 0


async def test_a_valid_token_is_accepted_on_the_raw_api(keyvault: KeyVaultStack) -> None:
    status, _, body = await raw(keyvault, "PUT", f"/secrets/raw-one?{API}", token_for(keyvault), {"value": "v"})
    assert status == 200 and body["value"] == "v"
    status, _, body = await raw(keyvault, "GET", "/secrets/raw-one/", token_for(keyvault))
    assert status == 400 and body["error"]["code"] == "BadParameter"  # api-version is required


async def test_the_real_client_is_refused_with_a_token_the_vault_does_not_trust(keyvault: KeyVaultStack) -> None:
    class ForeignCredential:
        """Hands out well-formed tokens signed by a key the vault does not trust."""

        def __init__(self) -> None:
            self.signer = TokenSigner()

        async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            from azure.core.credentials import AccessToken

            token = self.signer.issue(
                {"tid": keyvault.tenant, "aud": "https://vault.azure.net", "appid": keyvault.client_id}
            )
            return AccessToken(token, int(datetime.now(UTC).timestamp()) + 3600)

        async def close(self) -> None:
            return None

    async with keyvault.secret_client(ForeignCredential(), retry_total=0) as client:
        with pytest.raises(ClientAuthenticationError):
            await client.get_secret("anything")
    assert keyvault.control.counters()["unauthorized"] >= 2  # the challenge, then the untrusted token


async def test_a_principal_without_a_role_is_forbidden(keyvault: KeyVaultStack) -> None:
    other_id, other_secret, _ = keyvault.identity.register_client()
    credential = keyvault.credential(other_id, other_secret)
    async with credential, keyvault.secret_client(credential, retry_total=0) as client:
        with pytest.raises(HttpResponseError) as caught:
            await client.set_secret("not-yours", "v")
        assert caught.value.status_code == 403
        error = error_of(caught.value)
        assert (error["code"], error["innererror"]["code"]) == ("Forbidden", "ForbiddenByRbac")
        keyvault.control.authorize([keyvault.client_id, other_id])
        assert (await client.set_secret("now-yours", "v")).value == "v"


async def test_a_wrong_client_secret_never_reaches_the_vault(keyvault: KeyVaultStack) -> None:
    credential = keyvault.credential(keyvault.client_id, "wrong-secret")
    async with credential, keyvault.secret_client(credential, retry_total=0) as client:
        with pytest.raises(ClientAuthenticationError):
            await client.get_secret("anything")
    assert keyvault.control.counters().get("get", 0) == 0


# --- throttling ---------------------------------------------------------------------------------------


async def test_injected_throttling_answers_429_with_retry_after(keyvault: KeyVaultStack) -> None:
    keyvault.control.inject_throttling(1, retry_after=7, operations=["set"])
    credential = keyvault.credential()
    async with credential, keyvault.secret_client(credential, retry_total=0) as client:
        with pytest.raises(HttpResponseError) as caught:
            await client.set_secret("throttled", "v")
        assert caught.value.status_code == 429
        assert retry_after_of(caught.value) == "7"
        assert error_of(caught.value)["code"] == "Throttled"
        assert (await client.set_secret("throttled", "v")).value == "v"  # the fault was used up
    assert keyvault.control.counters()["faults"] == 1


async def test_the_create_limit_throttles_until_the_window_passes(keyvault: KeyVaultStack) -> None:
    keyvault.control.set_create_limit(3, 10.0)
    credential = keyvault.credential()
    async with credential, keyvault.secret_client(credential, retry_total=0) as client:
        for i in range(3):
            await client.set_secret("busy", f"v{i}")
        with pytest.raises(HttpResponseError) as caught:
            await client.set_secret("busy", "one too many")
        assert caught.value.status_code == 429
        assert 1 <= int(retry_after_of(caught.value)) <= 10
        assert (await client.get_secret("busy")).value == "v2"  # reads are not creates
        keyvault.control.advance_clock(10)
        assert (await client.set_secret("busy", "later")).value == "later"
    counters = keyvault.control.counters()
    assert (counters["set"], counters["throttled"]) == (4, 1)


# --- the sync client and the command line -----------------------------------------------------------------


def test_the_sync_client_works_too(keyvault: KeyVaultStack) -> None:
    with keyvault.sync_secret_client() as client:
        created = client.set_secret("sync-secret", "sync-value", tags={"via": "sync"})
        assert client.get_secret("sync-secret").value == "sync-value"
        assert [p.version for p in client.list_properties_of_secret_versions("sync-secret")] == [
            created.properties.version
        ]
        client.begin_delete_secret("sync-secret").wait()  # polls in real time through the default delay
        assert client.get_deleted_secret("sync-secret").name == "sync-secret"
        client.purge_deleted_secret("sync-secret")
        with pytest.raises(ResourceNotFoundError):
            client.get_deleted_secret("sync-secret")


@pytest.fixture
def cli_vault(keyvault: KeyVaultStack, tmp_path: Path) -> Iterator[dict[str, str]]:
    jwks_url = f"{keyvault.identity.authority}/{keyvault.tenant}/discovery/v2.0/keys"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.keyvault",
            "--port",
            "0",
            "--tenant",
            keyvault.tenant,
            "--jwks-url",
            jwks_url,
            "--jwks-ca-file",
            keyvault.ca_path,
            "--tls-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], 20)
        assert readable, "the emulator printed nothing within 20 s"
        line = proc.stdout.readline().decode()
        yield json.loads(line)
    finally:
        stop_process(proc)
    assert proc.returncode == 0


async def test_the_command_line_prints_one_ready_line_and_serves(
    keyvault: KeyVaultStack, cli_vault: dict[str, str]
) -> None:
    assert set(cli_vault) == {"vault_url", "ca_path", "bundle_path", "tenant"}
    assert cli_vault["vault_url"].startswith("https://127.0.0.1:") and cli_vault["tenant"] == keyvault.tenant
    context = ssl.create_default_context(cafile=cli_vault["ca_path"])
    headers = {"Authorization": f"Bearer {token_for(keyvault)}"}
    async with aiohttp.ClientSession() as session:
        async with session.put(
            f"{cli_vault['vault_url']}/secrets/from-cli?{API}", json={"value": "v"}, headers=headers, ssl=context
        ) as response:
            assert response.status == 200
        async with session.get(f"{cli_vault['vault_url']}/secrets?{API}", ssl=context) as response:
            assert response.status == 401
