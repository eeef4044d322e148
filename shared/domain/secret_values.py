"""Secret values and version metadata as the connector sees them; a `Secret` never shows its value unless asked."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn


class Secret:
    """Wraps a secret string: repr/str/format show `Secret('***')`; `.reveal()` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other._value.encode("utf-8"))

    __hash__ = None  # type: ignore[assignment]  # equal secrets must not be findable by hash

    def __reduce__(self) -> NoReturn:
        raise TypeError("secrets are never pickled (queues, caches and tables must not carry them)")

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


@dataclass(frozen=True)
class SecretVersionInfo:
    """One version's metadata (never its value)."""

    name: str
    version: str
    enabled: bool = True
    created_on: datetime | None = None
    updated_on: datetime | None = None
    expires_on: datetime | None = None
    content_type: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretValue:
    """A version's value with its metadata; `value` is a `Secret`, so printing this shows no secret."""

    info: SecretVersionInfo
    value: Secret

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def tags(self) -> Mapping[str, str]:
        return self.info.tags

    @property
    def created_on(self) -> datetime | None:
        return self.info.created_on

    @property
    def expires_on(self) -> datetime | None:
        return self.info.expires_on

    @property
    def content_type(self) -> str | None:
        return self.info.content_type


@dataclass(frozen=True)
class Erased:
    """What erasing some secrets did: `purged` are gone for good; `retained` are deleted but kept by the vault's
    purge protection until its retention period ends (Key Vault then purges them itself)."""

    purged: int = 0
    retained: int = 0
