"""The secret-store port: what the connector needs from Key Vault, implemented by KeyVaultSecretStore and the fake."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from shared.domain.secret_values import Erased, Secret, SecretValue, SecretVersionInfo

__all__ = ["Erased", "Secret", "SecretStore", "SecretValue", "SecretVersionInfo"]


class SecretStore(Protocol):
    """Versioned secrets by name (see shared.domain.secret_names). Errors: shared.errors.Secret*.

    Names must be valid Key Vault names (ValueError otherwise). Every `set` makes a new version; the newest
    version is the current one. `delete` is soft (recoverable until purged) and a deleted name cannot be set
    again (SecretConflict) until it is recovered or purged. A delete completes seconds after it is accepted:
    `delete` does not wait for that, while `set`, `recover` and `purge` of the name wait for it.
    """

    async def set(
        self,
        name: str,
        value: Secret | str,
        *,
        tags: Mapping[str, str] | None = None,
        content_type: str | None = None,
        expires_on: datetime | None = None,
    ) -> SecretVersionInfo:
        """Store a new version and make it current. SecretConflict when the name is soft-deleted."""
        ...

    async def get(self, name: str, version: str | None = None) -> SecretValue:
        """The current (or the given) version with its value. SecretNotFound when absent or deleted."""
        ...

    async def versions(self, name: str) -> list[SecretVersionInfo]:
        """Every version's metadata, newest first. SecretNotFound when absent or deleted."""
        ...

    async def update_tags(self, name: str, version: str, tags: Mapping[str, str]) -> SecretVersionInfo:
        """Replace one version's tags (the value never changes). SecretNotFound when absent."""
        ...

    async def disable(self, name: str, version: str, tags: Mapping[str, str]) -> SecretVersionInfo:
        """Disable one version and replace its tags: reading it then fails (SecretAccessDenied, code
        secret_disabled); other versions are untouched. SecretNotFound when absent."""
        ...

    async def delete(self, name: str) -> None:
        """Soft-delete all versions; returns once the vault accepted it (the delete completes seconds later).
        Does nothing when the name is absent, already deleted or being deleted."""
        ...

    async def recover(self, name: str) -> SecretVersionInfo:
        """Undo a soft delete; returns the current version. SecretNotFound when nothing is deleted by that name."""
        ...

    async def purge(self, name: str) -> None:
        """Permanently remove a soft-deleted secret (waiting for a delete still completing). Does nothing when no
        deleted secret has that name; SecretAccessDenied (code secret_purge_protected) under purge protection."""
        ...

    async def erase(self, names: Iterable[str]) -> Erased:
        """Remove these secrets for good whatever their state (active, being deleted, deleted or absent); safe to
        repeat after a crash. Under purge protection they stay deleted until the vault's retention ends
        (`retained`), which is not an error."""
        ...

    async def exists(self, name: str) -> bool:
        """True when an active (not deleted) secret has that name, even if it is disabled."""
        ...
