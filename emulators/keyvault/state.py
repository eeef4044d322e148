"""One vault's secrets in memory, following Key Vault's rules (rules.py): versions, soft delete that completes after
a delay, recovery, purge (or purge protection), the create limit."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from emulators.keyvault.rules import (
    CREATE_LIMIT,
    CREATE_WINDOW_S,
    DELETE_DELAY_S,
    MAX_VALUE_BYTES,
    PROTECTED_RECOVERY_LEVEL,
    PURGE_PROTECTED,
    RECOVERABLE_DAYS,
    RECOVERY_LEVEL,
    VaultError,
    attributes_of,
    bad_parameter,
    being_deleted,
    check_content_type,
    check_name,
    check_tags,
    deleted_not_found,
    not_found,
    timestamp,
)


class Clock:
    """Wall time plus an offset the control API can advance (expiry, purge dates and rate windows follow it)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class SecretVersion:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str] | None
    enabled: bool
    not_before: int | None
    expires: int | None
    created: int
    updated: int


@dataclass
class SecretRecord:
    name: str  # as first written; names are case-insensitive in Key Vault
    versions: list[SecretVersion] = field(default_factory=list)  # oldest first

    @property
    def latest(self) -> SecretVersion:
        return self.versions[-1]

    def find(self, version: str) -> SecretVersion | None:
        return next((v for v in self.versions if v.version == version.lower()), None)


@dataclass
class DeletedRecord:
    record: SecretRecord
    deleted_date: int
    scheduled_purge_date: int
    completes_at: float = 0.0  # emulator clock; until then the secret is being deleted

    def complete(self, now: float) -> bool:
        return now >= self.completes_at


class Vault:
    """The secrets of one vault. Thread-safe: HTTP handlers and the control API may call it from different threads."""

    def __init__(
        self,
        clock: Clock,
        *,
        create_limit: int | None = CREATE_LIMIT,
        create_window_s: float = CREATE_WINDOW_S,
        recoverable_days: int = RECOVERABLE_DAYS,
        delete_delay_s: float = DELETE_DELAY_S,
        purge_protection: bool = False,
    ) -> None:
        self.clock = clock
        self.purge_protection = purge_protection
        self.create_limit = create_limit
        self.create_window_s = create_window_s
        self.recoverable_days = recoverable_days
        self.delete_delay_s = delete_delay_s
        self._lock = threading.RLock()
        self._secrets: dict[str, SecretRecord] = {}
        self._deleted: dict[str, DeletedRecord] = {}
        self._creates: deque[float] = deque()

    # --- housekeeping -------------------------------------------------------------------------------------
    def _now(self) -> int:
        return int(self.clock.now())

    def _purge_due(self) -> None:
        now = self._now()
        for key in [k for k, d in self._deleted.items() if d.scheduled_purge_date <= now]:
            del self._deleted[key]

    def _deleting(self, key: str) -> bool:
        """True while a delete of this name has not completed (the secret is in neither collection yet)."""
        deleted = self._deleted.get(key)
        return deleted is not None and not deleted.complete(self.clock.now())

    def _check_create_rate(self) -> None:
        if self.create_limit is None:
            return
        now = self.clock.now()
        while self._creates and self._creates[0] <= now - self.create_window_s:
            self._creates.popleft()
        if len(self._creates) >= self.create_limit:
            wait = self._creates[0] + self.create_window_s - now
            raise VaultError(
                429,
                "Throttled",
                f"Request was not allowed because of throttling: at most {self.create_limit} secret creates "
                f"per {self.create_window_s:g} seconds per vault.",
                retry_after=max(1, math.ceil(wait)),
            )
        self._creates.append(now)

    def _active(self, name: str) -> SecretRecord:
        check_name(name)
        self._purge_due()
        record = self._secrets.get(name.lower())
        if record is None:
            raise not_found(name)
        return record

    # --- operations ---------------------------------------------------------------------------------------
    def set_secret(self, name: str, body: dict[str, Any]) -> tuple[SecretRecord, SecretVersion]:
        check_name(name)
        value = body.get("value")
        if not isinstance(value, str):
            raise bad_parameter("Property 'value' is required and must be a string.")
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise bad_parameter(f"Secret value is too large: the maximum is {MAX_VALUE_BYTES} bytes.")
        content_type = check_content_type(body)
        tags = check_tags(body.get("tags"))
        attributes = attributes_of(body)
        with self._lock:
            self._purge_due()
            key = name.lower()
            if self._deleting(key):
                raise being_deleted(f"Secret {name} is currently being deleted.")
            if key in self._deleted:
                raise VaultError(
                    409,
                    "Conflict",
                    f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; "
                    "in this state, the secret can only be recovered or purged.",
                    inner_code="ObjectIsDeletedButRecoverable",
                )
            self._check_create_rate()
            now = self._now()
            version = SecretVersion(
                version=uuid.uuid4().hex,
                value=value,
                content_type=content_type,
                tags=tags,
                enabled=attributes.get("enabled") is not False,
                not_before=timestamp(attributes, "nbf"),
                expires=timestamp(attributes, "exp"),
                created=now,
                updated=now,
            )
            record = self._secrets.setdefault(key, SecretRecord(name=name))
            record.versions.append(version)
            return record, version

    def get_secret(self, name: str, version: str = "") -> tuple[SecretRecord, SecretVersion]:
        with self._lock:
            record = self._active(name)
            found = record.find(version) if version else record.latest
            if found is None:
                raise not_found(name, version)
            return record, found

    def update_secret(self, name: str, version: str, body: dict[str, Any]) -> tuple[SecretRecord, SecretVersion]:
        attributes = attributes_of(body)
        tags = check_tags(body.get("tags")) if "tags" in body else None
        content_type = check_content_type(body)
        with self._lock:
            record, found = self.get_secret(name, version)
            if "tags" in body:
                found.tags = tags
            if content_type is not None:
                found.content_type = content_type
            if attributes.get("enabled") is not None:
                found.enabled = bool(attributes["enabled"])
            if "nbf" in attributes:
                found.not_before = timestamp(attributes, "nbf")
            if "exp" in attributes:
                found.expires = timestamp(attributes, "exp")
            found.updated = self._now()
            return record, found

    def list_secrets(self) -> list[SecretRecord]:
        with self._lock:
            self._purge_due()
            return [self._secrets[k] for k in sorted(self._secrets)]

    def list_versions(self, name: str) -> tuple[SecretRecord, list[SecretVersion]]:
        """Every version, in the service's order: by version id, not by creation time."""
        with self._lock:
            record = self._active(name)
            return record, sorted(record.versions, key=lambda v: v.version)

    def delete_secret(self, name: str) -> DeletedRecord:
        """Starts the delete: the secret leaves the active collection at once and reaches the deleted state
        `delete_delay_s` later (on the emulator clock); until then its name answers 409 ObjectIsBeingDeleted."""
        with self._lock:
            record = self._active(name)
            now = self._now()
            deleted = DeletedRecord(
                record, now, now + self.recoverable_days * 86400, self.clock.now() + self.delete_delay_s
            )
            del self._secrets[name.lower()]
            self._deleted[name.lower()] = deleted
            return deleted

    def get_deleted(self, name: str) -> DeletedRecord:
        """The deleted secret; 404 until its delete has completed (what the SDK's delete poller waits for)."""
        check_name(name)
        with self._lock:
            self._purge_due()
            deleted = self._deleted.get(name.lower())
            if deleted is None or not deleted.complete(self.clock.now()):
                raise deleted_not_found(name)
            return deleted

    def list_deleted(self) -> list[DeletedRecord]:
        with self._lock:
            self._purge_due()
            now = self.clock.now()
            return [self._deleted[k] for k in sorted(self._deleted) if self._deleted[k].complete(now)]

    def _refuse_while_deleting(self, name: str) -> None:
        check_name(name)
        self._purge_due()
        if self._deleting(name.lower()):
            raise being_deleted("Secret is currently being deleted.")

    def recover(self, name: str) -> SecretRecord:
        with self._lock:
            self._refuse_while_deleting(name)
            deleted = self.get_deleted(name)
            del self._deleted[name.lower()]
            self._secrets[name.lower()] = deleted.record
            return deleted.record

    @property
    def recovery_level(self) -> str:
        return PROTECTED_RECOVERY_LEVEL if self.purge_protection else RECOVERY_LEVEL

    def purge(self, name: str) -> None:
        with self._lock:
            self._refuse_while_deleting(name)
            self.get_deleted(name)
            if self.purge_protection:
                raise VaultError(403, "Forbidden", PURGE_PROTECTED)
            del self._deleted[name.lower()]

    # --- for the control API --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._purge_due()
            now = self.clock.now()
            return {
                "secrets": {r.name: len(r.versions) for r in self._secrets.values()},
                "deleted": sorted(d.record.name for d in self._deleted.values() if d.complete(now)),
                "deleting": sorted(d.record.name for d in self._deleted.values() if not d.complete(now)),
            }

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._deleted.clear()
            self._creates.clear()
