"""Behaviour every SecretStore must have; run against FakeSecretStore (unit) and KeyVaultSecretStore (integration)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.secret_store import Erased, Secret, SecretStore
from shared.errors import SecretAccessDenied, SecretConflict, SecretNotFound

Check = Callable[[SecretStore], Awaitable[None]]
CONTRACT: list[Check] = []


def contract(check: Check) -> Check:
    CONTRACT.append(check)
    return check


def fresh_name(prefix: str = "contract") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contract
async def set_makes_a_new_current_version_each_time(store: SecretStore) -> None:
    name = fresh_name()
    first = await store.set(name, "value-one", tags={"kind": "password"})
    second = await store.set(name, Secret("value-two"), tags={"kind": "password", "rotation": "2"})
    assert first.version != second.version
    current = await store.get(name)
    assert current.value.reveal() == "value-two"
    assert current.version == second.version
    assert dict(current.tags) == {"kind": "password", "rotation": "2"}
    old = await store.get(name, first.version)
    assert old.value.reveal() == "value-one"
    assert dict(old.tags) == {"kind": "password"}


@contract
async def versions_are_newest_first(store: SecretStore) -> None:
    name = fresh_name()
    written = [await store.set(name, f"v{i}") for i in range(3)]
    listed = await store.versions(name)
    assert [v.version for v in listed] == [w.version for w in reversed(written)]


@contract
async def metadata_round_trips(store: SecretStore) -> None:
    name = fresh_name()
    expires = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    info = await store.set(name, "x", content_type="text/plain", expires_on=expires, tags={"a": "b"})
    got = await store.get(name)
    assert (got.content_type, got.expires_on, dict(got.tags)) == ("text/plain", expires, {"a": "b"})
    assert got.created_on is not None
    assert info.expires_on == expires


@contract
async def update_tags_replaces_one_versions_tags(store: SecretStore) -> None:
    name = fresh_name()
    first = await store.set(name, "one", tags={"state": "current"})
    await store.set(name, "two", tags={"state": "current"})
    updated = await store.update_tags(name, first.version, {"state": "retired"})
    assert dict(updated.tags) == {"state": "retired"}
    assert dict((await store.get(name, first.version)).tags) == {"state": "retired"}
    assert dict((await store.get(name)).tags) == {"state": "current"}
    assert (await store.get(name, first.version)).value.reveal() == "one"


@contract
async def disable_turns_off_one_version_with_its_tags(store: SecretStore) -> None:
    name = fresh_name()
    first = await store.set(name, "one", tags={"state": "current"})
    second = await store.set(name, "two", tags={"state": "current"})
    disabled = await store.disable(name, second.version, {"state": "abandoned"})
    assert disabled.enabled is False and dict(disabled.tags) == {"state": "abandoned"}
    with pytest.raises(SecretAccessDenied) as refused:
        await store.get(name, second.version)
    assert refused.value.code == "secret_disabled"
    assert (await store.get(name, first.version)).value.reveal() == "one"
    listed = {v.version: v.enabled for v in await store.versions(name)}
    assert listed == {first.version: True, second.version: False}
    assert await store.exists(name) is True
    with pytest.raises(SecretNotFound):
        await store.disable(name, "0" * 32, {})


@contract
async def missing_secrets_are_not_found(store: SecretStore) -> None:
    name = fresh_name()
    with pytest.raises(SecretNotFound):
        await store.get(name)
    with pytest.raises(SecretNotFound):
        await store.versions(name)
    assert await store.exists(name) is False
    await store.set(name, "v")
    with pytest.raises(SecretNotFound):
        await store.get(name, "0" * 32)
    with pytest.raises(SecretNotFound):
        await store.update_tags(name, "0" * 32, {"a": "b"})


@contract
async def soft_delete_then_recover_keeps_every_version(store: SecretStore) -> None:
    name = fresh_name()
    first = await store.set(name, "one")
    second = await store.set(name, "two")
    await store.delete(name)
    assert await store.exists(name) is False
    with pytest.raises(SecretNotFound):
        await store.get(name)
    recovered = await store.recover(name)
    assert recovered.version == second.version
    assert (await store.get(name)).value.reveal() == "two"
    assert [v.version for v in await store.versions(name)] == [second.version, first.version]


@contract
async def a_deleted_name_cannot_be_set_until_purged(store: SecretStore) -> None:
    name = fresh_name()
    await store.set(name, "old")
    await store.delete(name)
    with pytest.raises(SecretConflict):
        await store.set(name, "new")
    await store.purge(name)
    with pytest.raises(SecretNotFound):
        await store.recover(name)
    fresh = await store.set(name, "new")
    assert [v.version for v in await store.versions(name)] == [fresh.version]


@contract
async def delete_and_purge_are_idempotent(store: SecretStore) -> None:
    name = fresh_name()
    await store.delete(name)  # never existed
    await store.purge(name)
    await store.set(name, "v")
    await store.delete(name)
    await store.delete(name)  # already deleted
    await store.purge(name)
    await store.purge(name)  # already purged
    with pytest.raises(SecretNotFound):
        await store.recover(name)


@contract
async def names_are_case_insensitive(store: SecretStore) -> None:
    name = fresh_name("Case")
    await store.set(name, "v1")
    await store.set(name.lower(), "v2")
    assert (await store.get(name.upper())).value.reveal() == "v2"
    assert len(await store.versions(name)) == 2


@contract
async def invalid_names_are_refused_before_any_call(store: SecretStore) -> None:
    for bad in ("has_underscore", "", "a" * 128, "dots.in.name", "ümlaut"):
        with pytest.raises(ValueError):
            await store.set(bad, "v")
        with pytest.raises(ValueError):
            await store.get(bad)


@contract
async def results_never_show_the_value(store: SecretStore) -> None:
    name = fresh_name()
    value = "hunter2-" + uuid.uuid4().hex
    info = await store.set(name, value, expires_on=datetime.now(UTC) + timedelta(days=1))
    got = await store.get(name)
    for shown in (repr(got), str(got), f"{got}", repr(info), repr(got.value), str(got.value), f"{got.value}"):
        assert value not in shown
    assert got.value == Secret(value)


@contract
async def erase_removes_secrets_in_every_state_and_can_repeat(store: SecretStore) -> None:
    active, deleting, deleted, absent = (fresh_name(kind) for kind in ("active", "deleting", "deleted", "absent"))
    await store.set(deleted, "v1")
    await store.delete(deleted)
    for name in (active, deleting):  # time passes: the first delete completes meanwhile
        await store.set(name, "v1")
        await store.set(name, "v2")
    await store.delete(deleting)  # just asked for: a real vault is still deleting it
    assert await store.erase([active, deleting, deleted, absent, active.upper()]) == Erased(purged=3)
    for name in (active, deleting, deleted, absent):
        assert await store.exists(name) is False
        with pytest.raises(SecretNotFound):
            await store.recover(name)
    assert await store.erase([active, deleting, deleted, absent]) == Erased()
    fresh = await store.set(active, "reborn")
    assert [v.version for v in await store.versions(active)] == [fresh.version]
