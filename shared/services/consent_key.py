"""The keys that sign consent states (and console sessions: shared/services/console_key.py), each one Key Vault
secret version, chosen once for every worker, then kept in memory for the worker's life (per vault, per event loop:
shared/client_pool.py).

Choosing: the version is recorded in table `consentstates` (PK `signing-key`, RK `current` for the consent key,
`console` for the console's; the version id only,
never the key) with insert-if-absent, so workers that race to make the first key all end with the recorded one
(Key Vault alone cannot decide: two creates in the same second carry the same `created` time). Without a record,
the current version (a key made before records existed) or else a new random one is offered."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets as random_secrets
from typing import Any

from shared.domain.secret_names import SecretRef, consent_signing_key_ref
from shared.errors import Conflict, SecretNotFound, StorageUnavailable
from shared.storage_names import CONSENT_STATES

KEY_PARTITION = "signing-key"
KEY_ROW = "current"
KEY_BYTES = 32


class _KeyCache:
    def __init__(self) -> None:
        self.key: bytes | None = None
        self.lock = asyncio.Lock()

    async def forget(self) -> None:
        self.key = None


async def signing_key(container: Any) -> bytes:
    """The signing key (read from Key Vault once per worker; concurrent first callers wait for one read)."""
    return await hmac_key(container, consent_signing_key_ref(), KEY_ROW)


async def hmac_key(container: Any, ref: SecretRef, row: str) -> bytes:
    """A 32-byte HMAC key kept in Key Vault secret `ref`, its version recorded in row (`signing-key`, `row`)."""
    pool_key = (f"hmac-key-{ref.name}", container.settings.key_vault_url)
    cache: _KeyCache = container.pool.get(pool_key, _KeyCache, lambda c: c.forget)
    if cache.key is None:
        async with cache.lock:
            if cache.key is None:
                cache.key = await _load(container, ref, row)
    key: bytes = cache.key
    return key


async def _load(container: Any, ref: SecretRef, row: str) -> bytes:
    tables, store = container.tables(), container.secrets()
    record = await tables.get(CONSENT_STATES, KEY_PARTITION, row)
    if record is None:
        offered = await _current_or_new(store, ref)
        with contextlib.suppress(Conflict):  # another worker recorded its version first: that one is the key
            await tables.insert(
                CONSENT_STATES,
                {"PartitionKey": KEY_PARTITION, "RowKey": row, "secret_name": ref.name, "version": offered},
            )
        record = await tables.get(CONSENT_STATES, KEY_PARTITION, row)
        if record is None:
            raise StorageUnavailable("the consent signing key's record could not be read back")
    value = (await store.get(ref.name, str(record["version"]))).value.reveal()
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise StorageUnavailable(f"Key Vault secret {ref.name!r} is not a {KEY_BYTES}-byte base64 key")
    return key


async def _current_or_new(store: Any, ref: SecretRef) -> str:
    try:
        return str((await store.get(ref.name)).version)
    except SecretNotFound:
        pass
    value = base64.b64encode(random_secrets.token_bytes(KEY_BYTES)).decode()
    created = await store.set(ref.name, value, tags=ref.with_tags(), content_type="hmac-sha256-key")
    return str(created.version)
