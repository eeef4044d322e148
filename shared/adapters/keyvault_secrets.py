"""KeyVaultSecretStore: the one adapter over azure-keyvault-secrets (async). Owns retries, error mapping, lifecycle."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.domain.secret_names import is_valid_secret_name
from shared.domain.secret_values import Secret, SecretValue, SecretVersionInfo
from shared.errors import (
    ConnectorError,
    SecretAccessDenied,
    SecretConflict,
    SecretNotFound,
    SecretStoreUnavailable,
    ValidationError,
)

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.keyvault.secrets import SecretProperties
    from azure.keyvault.secrets.aio import SecretClient

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# 409s that clear by themselves: the name is mid-delete or mid-recovery on the service side.
TRANSIENT_CONFLICTS = frozenset({"ObjectIsBeingDeleted", "ObjectIsBeingRecovered"})
Sleep = Callable[[float], Awaitable[None]]


def _error_codes(exc: HttpResponseError) -> tuple[str | None, str | None]:
    """Key Vault's `error.code` and `error.innererror.code`, read from the response body when there is one."""
    response = getattr(exc, "response", None)
    try:
        body = json.loads(response.text()) if response is not None else None
    except (ValueError, TypeError, AttributeError):
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    inner = error.get("innererror")
    return error.get("code"), inner.get("code") if isinstance(inner, dict) else None


def _retry_after(exc: HttpResponseError) -> float | None:
    response = getattr(exc, "response", None)
    raw = response.headers.get("Retry-After") if response is not None else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


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
    honouring Retry-After, at most `max_attempts` times and never waiting longer than `max_delay_s` at once."""

    def __init__(
        self, client: SecretClient, *, max_attempts: int = 4, max_delay_s: float = 30.0, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._client = client
        self._max_attempts = max_attempts
        self._max_delay_s = max_delay_s
        self._sleep = sleep

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

        store_options = {k: options.pop(k) for k in ("max_attempts", "max_delay_s", "sleep") if k in options}
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

    # --- the one request path: retries and error mapping ----------------------------------------------------
    def _delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            return min(hint, self._max_delay_s)
        jitter = 1.0 + random.random() / 2  # noqa: S311 (jitter, not cryptography)
        return float(min(self._max_delay_s, 0.5 * 2.0 ** (attempt - 1) * jitter))

    async def _call(self, what: str, name: str, func: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await func()
            except ResourceNotFoundError as exc:
                raise SecretNotFound(f"Key Vault has no secret {name!r} ({what})") from exc
            except ResourceExistsError as exc:
                _, inner = _error_codes(exc)
                if inner not in TRANSIENT_CONFLICTS:
                    raise SecretConflict(
                        f"Secret {name!r} is deleted but recoverable in Key Vault: recover or purge it first"
                    ) from exc
                retry_hint, reason = _retry_after(exc), f"409 {inner}"
            except ClientAuthenticationError as exc:
                raise SecretAccessDenied(
                    f"Key Vault did not accept the app's identity while {what} {name!r}",
                    code="secret_store_unauthenticated",
                ) from exc
            except HttpResponseError as exc:
                status = exc.status_code or 0
                code, inner = _error_codes(exc)
                if status == 403:
                    if inner == "SecretDisabled":
                        raise SecretAccessDenied(
                            f"Secret {name!r} is disabled in Key Vault", code="secret_disabled"
                        ) from exc
                    raise SecretAccessDenied(
                        f"The app's identity may not use Key Vault secrets ({what} {name!r}): "
                        "grant it the 'Key Vault Secrets Officer' role on the vault"
                    ) from exc
                if status == 400:
                    raise ValidationError(
                        {"secret": f"Key Vault refused {what} {name!r}: {code or 'BadParameter'}"}
                    ) from exc
                if status not in RETRYABLE_STATUS:
                    raise ConnectorError(
                        f"Key Vault answered {status} {code or ''} while {what} {name!r}", code="secret_store_error"
                    ) from exc
                retry_hint, reason = _retry_after(exc), f"{status} {code or ''}".strip()
            except (ServiceRequestError, ServiceResponseError) as exc:
                retry_hint, reason = None, type(exc).__name__
                if attempt >= self._max_attempts:
                    raise SecretStoreUnavailable(f"Key Vault could not be reached while {what} {name!r}") from exc
            if attempt >= self._max_attempts:
                raise SecretStoreUnavailable(
                    f"Key Vault kept failing ({reason}) while {what} {name!r}; gave up after {attempt} attempts",
                    retry_after=retry_hint,
                )
            delay = self._delay(attempt, retry_hint)
            log.warning("Key Vault %s while %s %s; retry %d in %.1f s", reason, what, name, attempt, delay)
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
        _check_name(name)

        async def call() -> list[SecretVersionInfo]:
            return [_info(p) async for p in self._client.list_properties_of_secret_versions(name)]

        listed = await self._call("listing versions of", name, call)
        if not listed:
            raise SecretNotFound(f"Key Vault has no secret {name!r} (listing versions)")
        # Newest first. Key Vault timestamps have one-second resolution; ties keep the reverse listing order.
        ordered = list(reversed(listed))
        ordered.sort(key=lambda i: i.created_on.timestamp() if i.created_on else 0.0, reverse=True)
        return ordered

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

        async def call() -> None:
            await self._client.delete_secret(name)

        try:
            await self._call("deleting", name, call)
        except SecretNotFound:
            return  # already deleted or never there: deleting is idempotent
        log.info("secret %s: soft-deleted", name)

    async def recover(self, name: str) -> SecretVersionInfo:
        _check_name(name)

        async def call() -> SecretVersionInfo:
            return _info(await self._client.recover_deleted_secret(name))

        info = await self._call("recovering", name, call)
        log.info("secret %s: recovered", name)
        return info

    async def purge(self, name: str) -> None:
        _check_name(name)

        async def call() -> None:
            await self._client.purge_deleted_secret(name)

        try:
            await self._call("purging", name, call)
        except SecretNotFound:
            return
        log.info("secret %s: purged", name)

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
