"""KeyVaultSecretStore: the one adapter over azure-keyvault-secrets (async). Owns retries, error mapping, lifecycle."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from shared.adapters.keyvault_errors import Retry, classify, is_pending_conflict
from shared.domain.secret_names import is_valid_secret_name
from shared.domain.secret_values import Erased, Secret, SecretValue, SecretVersionInfo
from shared.errors import ConnectorError, SecretAccessDenied, SecretNotFound, SecretStoreUnavailable

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.keyvault.secrets import SecretProperties
    from azure.keyvault.secrets.aio import SecretClient

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
Sleep = Callable[[float], Awaitable[None]]
STORE_OPTIONS = ("max_attempts", "max_delay_s", "sleep", "delete_poll_s", "delete_wait_s", "concurrency")


def _info(props: SecretProperties) -> SecretVersionInfo:
    return SecretVersionInfo(
        name=str(props.name),
        version=str(props.version),
        enabled=props.enabled is not False,
        created_on=props.created_on,
        updated_on=props.updated_on,
        expires_on=props.expires_on,
        content_type=props.content_type,
        tags=dict(props.tags or {}),
    )


def _check_name(name: str) -> None:
    if not is_valid_secret_name(name):
        raise ValueError(f"not a valid Key Vault secret name: {name!r}")


def _transport_trusting(ca_path: str) -> Any:
    """An SDK transport whose connections trust `ca_path` and are kept open between requests. (Passing the path as
    `connection_verify` makes azure-core build a new SSL context per request, so aiohttp never reuses a connection:
    every call paid a TLS handshake, ~80 ms, against the local vault.)"""
    import ssl

    import aiohttp
    from azure.core.pipeline.transport import AioHttpTransport

    context = ssl.create_default_context(cafile=ca_path)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
    return AioHttpTransport(session=session, session_owner=True)


class KeyVaultSecretStore:
    """SecretStore over one vault. The SDK's own retries are off: this class retries 429/5xx/network errors,
    honouring Retry-After, at most `max_attempts` times and never waiting longer than `max_delay_s` at once.

    A Key Vault delete completes seconds after it is accepted; until then the name answers 409
    ObjectIsBeingDeleted. `delete` does not wait for that; `set`, `recover` and `purge` wait it out, polling every
    `delete_poll_s` for at most `delete_wait_s` in all (then SecretStoreUnavailable). `erase` runs at most
    `concurrency` vault requests at once."""

    def __init__(
        self,
        client: SecretClient,
        *,
        max_attempts: int = 4,
        max_delay_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        delete_poll_s: float = 1.0,
        delete_wait_s: float = 120.0,
        concurrency: int = 16,
    ) -> None:
        self._client = client
        self._max_attempts = max_attempts
        self._max_delay_s = max_delay_s
        self._sleep = sleep
        self._delete_poll_s = delete_poll_s
        self._delete_wait_s = delete_wait_s
        self._concurrency = concurrency

    @classmethod
    def create(
        cls,
        vault_url: str,
        credential: AsyncTokenCredential,
        *,
        ca_path: str | None = None,
        verify_challenge_resource: bool = True,
        **options: Any,
    ) -> Self:
        """Build the SDK client (no network until the first call). `ca_path` trusts a test CA for emulators.

        The caller owns `credential` and closes it; `close()` closes only the SDK client. Request-body logging
        (`logging_enable`) is always off, because bodies carry secret values."""
        from azure.keyvault.secrets.aio import SecretClient

        store_options = {k: options.pop(k) for k in STORE_OPTIONS if k in options}
        options["logging_enable"] = False
        if ca_path:
            options["transport"] = _transport_trusting(ca_path)
        client = SecretClient(
            vault_url, credential, verify_challenge_resource=verify_challenge_resource, retry_total=0, **options
        )
        return cls(client, **store_options)

    # --- lifecycle -----------------------------------------------------------------------------------------
    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- the one request path: retries, waits and error mapping ---------------------------------------------
    def _delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            return min(hint, self._max_delay_s)
        jitter = 1.0 + random.random() / 2  # noqa: S311 (jitter, not cryptography)
        return float(min(self._max_delay_s, 0.5 * 2.0 ** (attempt - 1) * jitter))

    async def _call(self, what: str, name: str, func: Callable[[], Awaitable[T]]) -> T:
        attempt, waited = 0, 0.0
        while True:
            try:
                return await func()
            except HttpResponseError as exc:
                decision = classify(exc, what, name)
                if isinstance(decision, ConnectorError):
                    raise decision from exc
                if decision.pending:  # the name is still being deleted or recovered: wait, bounded
                    if waited >= self._delete_wait_s:
                        raise SecretStoreUnavailable(
                            f"Key Vault was still deleting or recovering {name!r} after {waited:.0f} s ({what})",
                            retry_after=decision.hint,
                        ) from exc
                    pause = min(decision.hint or self._delete_poll_s, self._max_delay_s)
                    waited += pause
                    log.info("Key Vault %s while %s %s; waiting %.1f s", decision.reason, what, name, pause)
                    await self._sleep(pause)
                    continue
                retry: Retry = decision
            except (ServiceRequestError, ServiceResponseError) as exc:
                retry = Retry(type(exc).__name__, None)
                if attempt + 1 >= self._max_attempts:
                    raise SecretStoreUnavailable(f"Key Vault could not be reached while {what} {name!r}") from exc
            attempt += 1
            if attempt >= self._max_attempts:
                raise SecretStoreUnavailable(
                    f"Key Vault kept failing ({retry.reason}) while {what} {name!r}; gave up after {attempt} attempts",
                    retry_after=retry.hint,
                )
            delay = self._delay(attempt, retry.hint)
            log.warning("Key Vault %s while %s %s; retry %d in %.1f s", retry.reason, what, name, attempt, delay)
            await self._sleep(delay)

    # --- operations ------------------------------------------------------------------------------------------
    async def set(
        self,
        name: str,
        value: Secret | str,
        *,
        tags: Mapping[str, str] | None = None,
        content_type: str | None = None,
        expires_on: datetime | None = None,
    ) -> SecretVersionInfo:
        _check_name(name)
        plain = value.reveal() if isinstance(value, Secret) else value

        async def call() -> SecretVersionInfo:
            secret = await self._client.set_secret(
                name,
                plain,
                tags=dict(tags) if tags is not None else None,
                content_type=content_type,
                expires_on=expires_on,
            )
            return _info(secret.properties)

        info = await self._call("setting", name, call)
        log.info("secret %s: new version %s", name, info.version)
        return info

    async def get(self, name: str, version: str | None = None) -> SecretValue:
        _check_name(name)

        async def call() -> SecretValue:
            secret = await self._client.get_secret(name, version)
            if secret.value is None:  # Key Vault always returns a value for an enabled secret
                raise SecretNotFound(f"Key Vault returned no value for secret {name!r}")
            return SecretValue(_info(secret.properties), Secret(secret.value))

        return await self._call("reading", name, call)

    async def versions(self, name: str) -> list[SecretVersionInfo]:
        """Newest first, never from the listing order (Key Vault lists by version id). Timestamps have one-second
        resolution: when several versions share the newest second, the current one (a read) comes first."""
        _check_name(name)

        async def call() -> list[SecretVersionInfo]:
            return [_info(p) async for p in self._client.list_properties_of_secret_versions(name)]

        listed = await self._call("listing versions of", name, call)
        if not listed:
            raise SecretNotFound(f"Key Vault has no secret {name!r} (listing versions)")
        newest = max(_created(i) for i in listed)
        current = await self._current_version(name) if sum(_created(i) == newest for i in listed) > 1 else None
        return sorted(listed, key=lambda i: (_created(i), i.version == current, i.version), reverse=True)

    async def _current_version(self, name: str) -> str | None:
        try:
            return (await self.get(name)).version
        except SecretAccessDenied as exc:
            if exc.code == "secret_disabled":
                return None
            raise

    async def update_tags(self, name: str, version: str, tags: Mapping[str, str]) -> SecretVersionInfo:
        _check_name(name)

        async def call() -> SecretVersionInfo:
            return _info(await self._client.update_secret_properties(name, version, tags=dict(tags)))

        return await self._call("updating tags of", name, call)

    async def disable(self, name: str, version: str, tags: Mapping[str, str]) -> SecretVersionInfo:
        _check_name(name)

        async def call() -> SecretVersionInfo:
            return _info(await self._client.update_secret_properties(name, version, enabled=False, tags=dict(tags)))

        info = await self._call("disabling", name, call)
        log.info("secret %s: version %s disabled", name, version)
        return info

    async def delete(self, name: str) -> None:
        _check_name(name)
        if await self._start_delete(name):
            log.info("secret %s: delete started", name)

    async def _start_delete(self, name: str) -> bool:
        """Ask for the (soft) delete without waiting for it to complete. True when this call started it; False
        when nothing is active by that name (never there, already deleted, or being deleted)."""
        from azure.core.rest import HttpRequest

        async def call() -> bool:
            response = await self._client.send_request(HttpRequest("DELETE", f"/secrets/{name}"))
            if is_pending_conflict(response):
                return False
            response.raise_for_status()
            return True

        try:
            return await self._call("deleting", name, call)
        except SecretNotFound:
            return False

    async def _wait_deleted(self, name: str) -> None:
        """Poll until the secret is in the deleted state (as the SDK's delete poller does), bounded."""
        waited = 0.0
        while True:
            try:
                await self._call("waiting for the delete of", name, lambda: self._client.get_deleted_secret(name))
                return
            except SecretNotFound:
                if waited >= self._delete_wait_s:
                    raise SecretStoreUnavailable(
                        f"Key Vault had not finished deleting {name!r} after {waited:.0f} s"
                    ) from None
            waited += self._delete_poll_s
            await self._sleep(self._delete_poll_s)

    async def recover(self, name: str) -> SecretVersionInfo:
        _check_name(name)

        async def call() -> SecretVersionInfo:
            return _info(await self._client.recover_deleted_secret(name))

        info = await self._call("recovering", name, call)
        log.info("secret %s: recovered", name)
        return info

    async def purge(self, name: str) -> None:
        _check_name(name)
        outcome = await self._purge(name)
        if outcome == "retained":
            raise SecretAccessDenied(
                f"Secret {name!r} cannot be purged: the vault has purge protection on (Key Vault purges it itself "
                "when the retention period ends)",
                code="secret_purge_protected",
            )
        if outcome == "purged":
            log.info("secret %s: purged", name)

    async def _purge(self, name: str) -> str:
        """ "purged", "absent" (no deleted secret by that name) or "retained" (purge protection). A delete still
        completing is waited for."""
        try:
            await self._call("purging", name, lambda: self._client.purge_deleted_secret(name))
        except SecretNotFound:
            return "absent"
        except SecretAccessDenied as exc:
            if exc.code == "secret_access_denied" and await self._purge_protected(name):
                return "retained"
            raise
        return "purged"

    async def _purge_protected(self, name: str) -> bool:
        """The deleted secret's recovery level does not allow a purge ("Recoverable", without "Purgeable")."""
        try:
            deleted = await self._call("reading the deleted", name, lambda: self._client.get_deleted_secret(name))
        except SecretNotFound:
            return False
        level = deleted.properties.recovery_level or ""
        return bool(level) and "Purgeable" not in level

    async def erase(self, names: Iterable[str]) -> Erased:
        """Remove these secrets for good, whatever their state (active, being deleted, deleted, absent): every
        delete is asked for first, then each started one is waited for and purged. Safe to repeat after a crash.
        A vault with purge protection keeps them deleted until its retention ends: counted as `retained`."""
        unique = list({n.lower(): n for n in names}.values())  # Key Vault names are case-insensitive
        for name in unique:
            _check_name(name)
        started = await self._bounded([self._start_delete(n) for n in unique])

        async def finish(name: str, was_active: bool) -> str:
            if was_active:
                await self._wait_deleted(name)
            return await self._purge(name)

        outcomes = await self._bounded([finish(n, a) for n, a in zip(unique, started, strict=True)])
        erased = Erased(purged=outcomes.count("purged"), retained=outcomes.count("retained"))
        log.info(
            "erased %d secret(s): %d deletes started, %d purged, %d kept deleted by purge protection",
            len(unique),
            sum(started),
            erased.purged,
            erased.retained,
        )
        return erased

    async def _bounded(self, calls: list[Coroutine[Any, Any, R]]) -> list[R]:
        """Run the calls, at most `concurrency` at once; the first failure cancels the rest and is raised."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(call: Coroutine[Any, Any, R]) -> R:
            async with limit:
                return await call

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(c)) for c in calls]
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None
        return [t.result() for t in tasks]

    async def exists(self, name: str) -> bool:
        try:
            await self.get(name)
        except SecretNotFound:
            return False
        except SecretAccessDenied as exc:
            if exc.code == "secret_disabled":
                return True
            raise
        return True


def _created(info: SecretVersionInfo) -> float:
    return info.created_on.timestamp() if info.created_on else 0.0
