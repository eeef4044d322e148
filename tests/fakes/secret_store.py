"""FakeSecretStore: the SecretStore port in memory, with Key Vault's behaviour (versions, soft delete, conflicts)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from shared.domain.secret_names import is_valid_secret_name
from shared.domain.secret_values import Erased, Secret, SecretValue, SecretVersionInfo
from shared.errors import ConnectorError, SecretAccessDenied, SecretConflict, SecretNotFound


@dataclass
class _Stored:
    info: SecretVersionInfo
    value: Secret


@dataclass
class _Record:
    versions: list[_Stored] = field(default_factory=list)  # oldest first


class FakeSecretStore:
    """Behaves like KeyVaultSecretStore against a soft-delete vault. Names are case-insensitive like Key Vault's.

    Each `set` advances the fake clock by one second, so versions are strictly ordered. `fail_next(error)` makes
    the next call raise that error (to test how callers handle SecretStoreUnavailable and friends).
    """

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._clock_base = datetime(2025, 1, 1, tzinfo=UTC)
        self._ticks = 0
        self._now = now
        self._active: dict[str, _Record] = {}
        self._deleted: dict[str, _Record] = {}
        self._failures: list[ConnectorError] = []
        self.calls: list[tuple[str, str]] = []  # (operation, name): what was asked, never values

    # --- test helpers -----------------------------------------------------------------------------------------
    def fail_next(self, error: ConnectorError) -> None:
        self._failures.append(error)

    def names(self) -> list[str]:
        return sorted(r.versions[-1].info.name for r in self._active.values())

    def deleted_names(self) -> list[str]:
        return sorted(r.versions[-1].info.name for r in self._deleted.values())

    # --- internals ----------------------------------------------------------------------------------------------
    def _tick(self) -> datetime:
        if self._now is not None:
            return self._now()
        self._ticks += 1
        return self._clock_base + timedelta(seconds=self._ticks)

    def _enter(self, operation: str, name: str) -> str:
        self.calls.append((operation, name))
        if self._failures:
            raise self._failures.pop(0)
        if not is_valid_secret_name(name):
            raise ValueError(f"not a valid Key Vault secret name: {name!r}")
        return name.lower()

    def _record(self, key: str, name: str) -> _Record:
        record = self._active.get(key)
        if record is None:
            raise SecretNotFound(f"Key Vault has no secret {name!r}")
        return record

    def _find(self, record: _Record, name: str, version: str | None) -> _Stored:
        if version is None:
            return record.versions[-1]
        for stored in record.versions:
            if stored.info.version == version.lower():
                return stored
        raise SecretNotFound(f"Key Vault has no secret {name!r} version {version!r}")

    # --- the port ----------------------------------------------------------------------------------------------
    async def set(
        self,
        name: str,
        value: Secret | str,
        *,
        tags: Mapping[str, str] | None = None,
        content_type: str | None = None,
        expires_on: datetime | None = None,
    ) -> SecretVersionInfo:
        key = self._enter("set", name)
        if key in self._deleted:
            raise SecretConflict(f"Secret {name!r} is deleted but recoverable in Key Vault: recover or purge it first")
        secret = value if isinstance(value, Secret) else Secret(value)
        now = self._tick()
        record = self._active.setdefault(key, _Record())
        stored_name = record.versions[0].info.name if record.versions else name
        info = SecretVersionInfo(
            name=stored_name,
            version=uuid.uuid4().hex,
            enabled=True,
            created_on=now,
            updated_on=now,
            expires_on=expires_on,
            content_type=content_type,
            tags=dict(tags or {}),
        )
        record.versions.append(_Stored(info, secret))
        return info

    async def get(self, name: str, version: str | None = None) -> SecretValue:
        key = self._enter("get", name)
        stored = self._find(self._record(key, name), name, version)
        if not stored.info.enabled:
            raise SecretAccessDenied(f"Secret {name!r} is disabled in Key Vault", code="secret_disabled")
        return SecretValue(stored.info, stored.value)

    async def versions(self, name: str) -> list[SecretVersionInfo]:
        key = self._enter("versions", name)
        return [s.info for s in reversed(self._record(key, name).versions)]

    async def update_tags(self, name: str, version: str, tags: Mapping[str, str]) -> SecretVersionInfo:
        key = self._enter("update_tags", name)
        stored = self._find(self._record(key, name), name, version)
        stored.info = replace(stored.info, tags=dict(tags), updated_on=self._tick())
        return stored.info

    async def disable(self, name: str, version: str, tags: Mapping[str, str]) -> SecretVersionInfo:
        key = self._enter("disable", name)
        stored = self._find(self._record(key, name), name, version)
        stored.info = replace(stored.info, enabled=False, tags=dict(tags), updated_on=self._tick())
        return stored.info

    async def delete(self, name: str) -> None:
        key = self._enter("delete", name)
        record = self._active.pop(key, None)
        if record is not None:
            self._deleted[key] = record

    async def recover(self, name: str) -> SecretVersionInfo:
        key = self._enter("recover", name)
        record = self._deleted.pop(key, None)
        if record is None:
            raise SecretNotFound(f"Key Vault has no deleted secret {name!r}")
        self._active[key] = record
        return record.versions[-1].info

    async def purge(self, name: str) -> None:
        key = self._enter("purge", name)
        self._deleted.pop(key, None)

    async def erase(self, names: Iterable[str]) -> Erased:
        purged = 0
        for name in list({n.lower(): n for n in names}.values()):
            key = self._enter("erase", name)
            record = self._active.pop(key, None) or self._deleted.pop(key, None)
            purged += record is not None
        return Erased(purged=purged)

    async def exists(self, name: str) -> bool:
        key = self._enter("exists", name)
        return key in self._active

    async def close(self) -> None:
        return None
