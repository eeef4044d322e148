"""Typed errors: each says what went wrong in words an admin can act on, and its type decides what happens next."""

from __future__ import annotations

from collections.abc import Mapping


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose. `code` is stable; `message` never holds a secret."""

    code = "connector_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


class ConfigurationError(ConnectorError):
    """Settings are missing or malformed; lists every problem by setting name."""

    code = "configuration_error"

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(sorted(problems.items()))
        lines = "; ".join(f"{name}: {why}" for name, why in self.problems.items())
        super().__init__(f"{len(self.problems)} setting(s) missing or malformed: {lines}")


class ValidationError(ConnectorError):
    """Input from an admin or an API caller is wrong; `problems` maps each field to what is wrong with it."""

    code = "validation_error"
    http_status = 400

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {why}" for field, why in self.problems.items()) or "invalid input")

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": "The request is invalid.", "problems": self.problems}


class NotFound(ConnectorError):
    code = "not_found"
    http_status = 404


class Conflict(ConnectorError):
    code = "conflict"
    http_status = 409


class ConcurrencyConflict(Conflict):
    """An ETag-guarded write lost the race: someone else changed the entity since it was read."""

    code = "concurrency_conflict"


class TransientError(ConnectorError):
    """Worth retrying later (throttling, 5xx, network). `retry_after` is the server's hint in seconds, if any."""

    code = "transient"
    http_status = 503

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class StorageUnavailable(TransientError):
    code = "storage_unavailable"
