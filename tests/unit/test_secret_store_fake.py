"""The fake secret store keeps the SecretStore contract (the same checks run against Key Vault in integration)."""

from __future__ import annotations

import pytest

from shared.errors import SecretStoreUnavailable
from tests.fakes.secret_store import FakeSecretStore
from tests.support.secret_store_contract import CONTRACT, Check


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
async def test_fake_keeps_the_contract(check: Check) -> None:
    await check(FakeSecretStore())


async def test_injected_failure_is_raised_once_then_the_store_works() -> None:
    store = FakeSecretStore()
    store.fail_next(SecretStoreUnavailable("throttled", retry_after=2))
    with pytest.raises(SecretStoreUnavailable):
        await store.set("conn-a-client-secret", "s3cret")
    await store.set("conn-a-client-secret", "s3cret")
    assert store.names() == ["conn-a-client-secret"]
    assert store.calls == [("set", "conn-a-client-secret"), ("set", "conn-a-client-secret")]


async def test_deleted_names_are_listed_apart() -> None:
    store = FakeSecretStore()
    await store.set("a", "1")
    await store.set("b", "2")
    await store.delete("a")
    assert (store.names(), store.deleted_names()) == (["b"], ["a"])
