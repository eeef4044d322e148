"""KeyVaultSecretStore against the emulator: the SecretStore contract, retries, typed errors, and no values in logs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulators.keyvault.control import Control
from emulators.keyvault.rules import DELETE_DELAY_S
from shared.adapters.keyvault_secrets import KeyVaultSecretStore
from shared.domain.secret_names import client_secret_ref
from shared.domain.secret_values import Erased, Secret, SecretVersionInfo
from shared.errors import SecretAccessDenied, SecretConflict, SecretNotFound, SecretStoreUnavailable
from tests.support.keyvault import KeyVaultStack
from tests.support.secret_store_contract import CONTRACT, Check


class Sleeps:
    """Records the waits the adapter asks for; instead of sleeping, the vault's clock moves that much."""

    def __init__(self, keyvault: KeyVaultStack) -> None:
        self.keyvault = keyvault
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self.keyvault.sleep_on_vault_clock(seconds)


@pytest.fixture
def sleeps(keyvault: KeyVaultStack) -> Sleeps:
    return Sleeps(keyvault)


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
            keyvault.vault_url,
            credential,
            ca_path=keyvault.ca_path,
            verify_challenge_resource=False,
            sleep=keyvault.sleep_on_vault_clock,  # waits for deletes pass on the vault's clock
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
    await store.set("conn-limited", "3")  # the vault's clock moves while the adapter waits (Sleeps)
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


# --- deletes complete seconds later: what waits for them and what does not ------------------------------------


async def test_delete_returns_without_waiting_for_the_vault(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack, sleeps: Sleeps
) -> None:
    await store.set("conn-quick", "v")
    await store.delete("conn-quick")
    assert keyvault.control.snapshot()["deleting"] == ["conn-quick"]
    assert sleeps.waits == [] and keyvault.control.counters().get("get_deleted", 0) == 0
    assert await store.exists("conn-quick") is False
    await store.delete("conn-quick")  # being deleted: nothing to do, nothing to wait for
    keyvault.control.inject_error(
        409, "Conflict", "Secret is currently being deleted.", operations=["delete"], inner_code="ObjectIsBeingDeleted"
    )
    await store.delete("conn-quick")  # a vault that answers 409 while deleting: the same, no wait
    assert sleeps.waits == []


async def test_purge_recover_and_set_wait_for_a_delete_still_completing(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack, sleeps: Sleeps
) -> None:
    await store.set("conn-pending", "one")
    await store.delete("conn-pending")
    await store.purge("conn-pending")
    assert sleeps.waits and sum(sleeps.waits) >= DELETE_DELAY_S  # 409 ObjectIsBeingDeleted until it completed
    assert keyvault.control.snapshot() == {"secrets": {}, "deleted": [], "deleting": []}
    await store.set("conn-back", "two")
    await store.delete("conn-back")
    assert (await store.recover("conn-back")).name == "conn-back"
    assert (await store.get("conn-back")).value.reveal() == "two"
    await store.delete("conn-back")
    with pytest.raises(SecretConflict):  # waits for the delete, then the name is held by the deleted secret
        await store.set("conn-back", "three")
    assert keyvault.control.snapshot()["deleted"] == ["conn-back"]


async def test_a_delete_that_never_completes_is_store_unavailable(keyvault: KeyVaultStack, sleeps: Sleeps) -> None:
    keyvault.control.set_delete_delay(3600)
    credential = keyvault.credential()
    async with (
        credential,
        KeyVaultSecretStore.create(
            keyvault.vault_url,
            credential,
            ca_path=keyvault.ca_path,
            verify_challenge_resource=False,
            sleep=sleeps,
            delete_wait_s=5,
        ) as adapter,
    ):
        await adapter.set("conn-stuck", "v")
        await adapter.delete("conn-stuck")
        with pytest.raises(SecretStoreUnavailable):
            await adapter.purge("conn-stuck")
        await adapter.set("conn-stuck-too", "v")
        with pytest.raises(SecretStoreUnavailable):
            await adapter.erase(["conn-stuck-too"])
    assert 5 <= sum(sleeps.waits) <= 15


async def test_erase_removes_many_secrets_with_one_delete_and_one_purge_each(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack
) -> None:
    names = [f"conn-bulk-{i:02d}" for i in range(40)]
    for name in names:
        await store.set(name, "v")
    await store.delete(names[0])  # one already being deleted
    assert await store.erase(names) == Erased(purged=40)
    assert keyvault.control.snapshot() == {"secrets": {}, "deleted": [], "deleting": []}
    counters = keyvault.control.counters()
    assert (counters["delete"], counters["purge"]) == (40, 40)


async def test_erase_finishes_after_a_crash_between_its_deletes_and_purges(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack
) -> None:
    names = [f"conn-crash-{i}" for i in range(6)]
    for name in names:
        await store.set(name, "v")
    keyvault.control.inject_error(403, "Forbidden", "stop here", count=100, operations=["get_deleted"])
    with pytest.raises(SecretAccessDenied):  # every delete was asked for, none waited for or purged
        await store.erase(names)
    assert keyvault.control.snapshot()["deleting"] == names
    keyvault.control.clear_faults()
    assert await store.erase(names) == Erased(purged=6)  # DELETE is 404 now; each purge waits out the delete
    assert keyvault.control.snapshot() == {"secrets": {}, "deleted": [], "deleting": []}


async def test_versions_put_the_current_one_first_within_one_second(store: KeyVaultSecretStore) -> None:
    """The vault lists by version id and stamps whole seconds: listing order and timestamps cannot say which
    of several versions set within one second is newest; the adapter reads the current one."""
    written: list[str] = []
    while len(written) < 2 or written[-1] == max(written):  # until the listing would not put the newest first
        written.append((await store.set("conn-same-second", f"v{len(written)}")).version)
    listed = await store.versions("conn-same-second")
    assert listed[0].version == written[-1]
    assert sorted(v.version for v in listed) == sorted(written)


async def test_under_purge_protection_erase_leaves_deleted_secrets_for_the_vault(
    store: KeyVaultSecretStore, keyvault: KeyVaultStack
) -> None:
    """The project's vault has purge protection on (infra): a purge is 403 and the vault purges deleted secrets
    itself when the retention ends. erase deletes and counts them as retained; purge says why it cannot."""
    keyvault.control.set_purge_protection(True)
    names = ["conn-protected-1", "conn-protected-2"]
    for name in names:
        await store.set(name, "v")
    assert await store.erase([*names, "conn-protected-absent"]) == Erased(retained=2)
    snapshot = keyvault.control.snapshot()
    assert (snapshot["secrets"], snapshot["deleted"]) == ({}, names)
    assert await store.erase(names) == Erased(retained=2)  # repeatable
    with pytest.raises(SecretAccessDenied) as caught:
        await store.purge(names[0])
    assert caught.value.code == "secret_purge_protected"
    keyvault.control.authorize(["someone-else"])  # a missing role is still an error, not "retained"
    with pytest.raises(SecretAccessDenied) as denied:
        await store.erase(names)
    assert denied.value.code == "secret_access_denied"
