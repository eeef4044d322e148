"""The key that signs consent states: one Key Vault secret version, chosen once for every worker, then kept in
memory for the worker's life (per vault, per event loop: shared/client_pool.py).

Choosing: the version is recorded in table `consentstates` (PK `signing-key`, RK `current`, the version id only,
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

from shared.domain.secret_names import consent_signing_key_ref
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
    pool_key = ("consent-signing-key", container.settings.key_vault_url)
    cache: _KeyCache = container.pool.get(pool_key, _KeyCache, lambda c: c.forget)
    if cache.key is None:
        async with cache.lock:
            if cache.key is None:
                cache.key = await _load(container)
    key: bytes = cache.key
    return key


async def _load(container: Any) -> bytes:
    tables, store, ref = container.tables(), container.secrets(), consent_signing_key_ref()
    record = await tables.get(CONSENT_STATES, KEY_PARTITION, KEY_ROW)
    if record is None:
        offered = await _current_or_new(store)
        with contextlib.suppress(Conflict):  # another worker recorded its version first: that one is the key
            await tables.insert(
                CONSENT_STATES,
                {"PartitionKey": KEY_PARTITION, "RowKey": KEY_ROW, "secret_name": ref.name, "version": offered},
            )
        record = await tables.get(CONSENT_STATES, KEY_PARTITION, KEY_ROW)
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


async def _current_or_new(store: Any) -> str:
    ref = consent_signing_key_ref()
    try:
        return str((await store.get(ref.name)).version)
    except SecretNotFound:
        pass
    value = base64.b64encode(random_secrets.token_bytes(KEY_BYTES)).decode()
    created = await store.set(ref.name, value, tags=ref.with_tags(), content_type="hmac-sha256-key")
    return str(created.version)
