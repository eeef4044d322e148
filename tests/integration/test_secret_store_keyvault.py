"""KeyVaultSecretStore against the emulator: the SecretStore contract, retries, typed errors, and no values in logs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulators.keyvault.control import Control
from shared.adapters.keyvault_secrets import KeyVaultSecretStore
from shared.domain.secret_names import client_secret_ref
from shared.domain.secret_values import Secret, SecretVersionInfo
from shared.errors import SecretAccessDenied, SecretConflict, SecretNotFound, SecretStoreUnavailable
from tests.support.keyvault import KeyVaultStack
from tests.support.secret_store_contract import CONTRACT, Check


class Sleeps:
    """Records the waits the adapter asks for instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def store(keyvault: KeyVaultStack, sleeps: Sleeps) -> AsyncIterator[KeyVaultSecretStore]:
    credential = keyvault.credential()
    async with (
        credential,
        KeyVaultSecretStore.create(
            keyvault.vault_url,
            credential,
            ca_path=keyvault.ca_path,
            verify_challenge_resource=False,
            sleep=sleeps,
            max_attempts=3,
        ) as adapter,
    ):
        yield adapter


class TickingStore(KeyVaultSecretStore):
    """Advances the vault clock a second after each write, as real time would pass between rotations."""

    control: Control | None = None

    async def set(self, name: str, value: Secret | str, **kwargs: Any) -> SecretVersionInfo:
        info = await super().set(name, value, **kwargs)
        assert self.control is not None
        self.control.advance_clock(1)
        return info


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
async def test_key_vault_store_keeps_the_contract(check: Check, keyvault: KeyVaultStack) -> None:
    credential = keyvault.credential()
    async with (
        credential,
        TickingStore.create(
            keyvault.vault_url, credential, ca_path=keyvault.ca_path, verify_challenge_resource=False
        ) as store,
    ):
        store.control = keyvault.control
        await check(store)


async def test_throttling_is_retried_after_the_servers_retry_after(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack, sleeps: Sleeps
) -> None:
    keyvault.control.inject_throttling(2, retry_after=4, operations=["set"])
    info = await store.set("conn-throttled", "value")
    assert sleeps.waits == [4.0, 4.0]
    assert (await store.get("conn-throttled")).version == info.version
    assert keyvault.control.counters()["set"] == 1  # one version, not three


async def test_throttling_that_outlasts_the_retries_is_store_unavailable(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack, sleeps: Sleeps
) -> None:
    keyvault.control.inject_throttling(5, retry_after=90, operations=["get"])
    with pytest.raises(SecretStoreUnavailable) as caught:
        await store.get("conn-anything")
    assert caught.value.retry_after == 90
    assert sleeps.waits == [30.0, 30.0]  # capped at max_delay_s, 3 attempts in all


async def test_server_errors_are_retried_with_backoff(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack, sleeps: Sleeps
) -> None:
    await store.set("conn-flaky", "v")
    keyvault.control.inject_error(503, "ServiceUnavailable", "try later", count=1, operations=["get"])
    assert (await store.get("conn-flaky")).value.reveal() == "v"
    assert len(sleeps.waits) == 1 and 0.5 <= sleeps.waits[0] <= 0.75


async def test_the_real_create_limit_is_handled_by_waiting(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack, sleeps: Sleeps
) -> None:
    keyvault.control.set_create_limit(2, 10.0)
    await store.set("conn-limited", "1")
    await store.set("conn-limited", "2")

    async def sleep_on_the_vault_clock(seconds: float) -> None:
        sleeps.waits.append(seconds)
        keyvault.control.advance_clock(seconds)

    store._sleep = sleep_on_the_vault_clock  # the vault's clock moves while the adapter waits
    await store.set("conn-limited", "3")
    assert len(sleeps.waits) == 1 and 1 <= sleeps.waits[0] <= 10
    assert len(await store.versions("conn-limited")) == 3


async def test_an_identity_without_a_role_gets_access_denied(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack
) -> None:
    keyvault.control.authorize(["someone-else"])
    with pytest.raises(SecretAccessDenied) as caught:
        await store.get("conn-x")
    assert caught.value.code == "secret_access_denied"


async def test_a_rejected_credential_gets_access_denied(keyvault: KeyVaultStack) -> None:
    credential = keyvault.credential(keyvault.client_id, "not-the-secret")
    async with (
        credential,
        KeyVaultSecretStore.create(
            keyvault.vault_url, credential, ca_path=keyvault.ca_path, verify_challenge_resource=False
        ) as adapter,
    ):
        with pytest.raises(SecretAccessDenied) as caught:
            await adapter.get("conn-x")
    assert caught.value.code == "secret_store_unauthenticated"


async def test_a_disabled_secret_exists_but_cannot_be_read(store: KeyVaultSecretStore, keyvault: KeyVaultStack) -> None:
    await store.set("conn-disabled", "v")
    credential = keyvault.credential()
    async with credential, keyvault.secret_client(credential) as client:
        await client.update_secret_properties("conn-disabled", enabled=False)
    assert await store.exists("conn-disabled") is True
    with pytest.raises(SecretAccessDenied) as caught:
        await store.get("conn-disabled")
    assert caught.value.code == "secret_disabled"


async def test_errors_are_typed_and_say_what_to_do(store: KeyVaultSecretStore) -> None:
    with pytest.raises(SecretNotFound):
        await store.get("conn-never")
    await store.set("conn-gone", "v")
    await store.delete("conn-gone")
    with pytest.raises(SecretConflict) as caught:
        await store.set("conn-gone", "v2")
    assert "recover or purge" in caught.value.message


async def test_secret_values_never_reach_the_logs(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root, azure.core, azure.identity, the adapter, the emulator
    caplog.set_level(logging.DEBUG, logger="azure.core.pipeline.policies.http_logging_policy")  # the worker quiets it
    value = f"never-log-me-{uuid.uuid4().hex}"
    ref = client_secret_ref(str(uuid.uuid4()))
    keyvault.control.inject_throttling(1, retry_after=1, operations=["set"])
    first = await store.set(ref.name, value, tags=ref.with_tags(rotated_at="2025-01-01T00:00:00Z"))
    got = await store.get(ref.name)
    logging.getLogger("tests").info("read %s: %s", got, got.value)
    await store.update_tags(ref.name, first.version, {"state": "retired"})
    await store.versions(ref.name)
    await store.delete(ref.name)
    with pytest.raises(SecretConflict):
        await store.set(ref.name, value)
    await store.recover(ref.name)
    assert got.value.reveal() == value
    messages = [r.getMessage() for r in caplog.records]
    assert any("azure" in r.name for r in caplog.records), "azure SDK logging was not captured"
    assert any(ref.name in m for m in messages), "the adapter should log names"
    assert not [m for m in messages if value in m]
    assert value not in caplog.text
