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


class ConnectionPurging(NotFound):
    """The connection is being purged: to every feature it is gone (workers drop its jobs as for a deleted one);
    HTTP answers 409 and only GET /api/connections/{id} still shows it, with the purge's progress."""

    code = "connection_purging"
    http_status = 409

    def __init__(self, connection_id: str) -> None:
        super().__init__(
            f"Connection {connection_id} is being purged: GET /api/connections/{connection_id} shows the progress "
            "and answers 404 once everything is gone"
        )


class ConcurrencyConflict(Conflict):
    """An ETag-guarded write lost the race: someone else changed the entity since it was read."""

    code = "concurrency_conflict"


class TenantAlreadyConnected(Conflict):
    """The tenant already has a connection (two rotating one tenant fight over its users)."""

    code = "tenant_already_connected"

    def __init__(self, tenant_id: str, connection_id: str) -> None:
        super().__init__(
            f"Tenant {tenant_id} already has connection {connection_id}: change or delete that one, or send "
            '"allow_second_connection": true to add a second one (it may not rotate the same group)'
        )
        self.tenant_id = tenant_id
        self.connection_id = connection_id

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "tenant_id": self.tenant_id, "connection_id": self.connection_id}


class RotationGroupInUse(Conflict):
    """Another connection of the same tenant rotates that group: one rotation owner per user."""

    code = "rotation_group_in_use"

    def __init__(self, group_id: str, connection_id: str) -> None:
        why = f"connection {connection_id} of the same tenant already rotates group {group_id}"
        super().__init__(f"rotation_group_id: {why}")
        self.group_id = group_id
        self.connection_id = connection_id
        self.problems = {"rotation_group_id": why}

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "problems": self.problems, "connection_id": self.connection_id}


class InternalError(ConnectorError):
    """An unexpected exception, caught at a trigger or worker edge. Holds the exception's type, never its message
    (which could hold a secret)."""

    code = "internal_error"
    http_status = 500

    def __init__(self, where: str, exc: BaseException) -> None:
        self.where = where
        self.exception_type = type(exc).__name__
        super().__init__(f"Unexpected {self.exception_type} in {where}; it was logged and recorded")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "exception_type": self.exception_type}


class TransientError(ConnectorError):
    """Worth retrying later (throttling, 5xx, network). `retry_after` is the server's hint in seconds, if any."""

    code = "transient"
    http_status = 503

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class StorageUnavailable(TransientError):
    code = "storage_unavailable"


class SecretNotFound(NotFound):
    """No active secret (or version, or deleted secret) by that name in Key Vault."""

    code = "secret_not_found"


class SecretConflict(Conflict):
    """The secret name is held by a soft-deleted secret: recover or purge it before setting the name again."""

    code = "secret_conflict"


class SecretAccessDenied(ConnectorError):
    """Key Vault refused the app's identity (401), its role (403), or the secret is disabled. Not worth retrying."""

    code = "secret_access_denied"
    http_status = 502


class SecretStoreUnavailable(TransientError):
    """Key Vault throttled us or failed (429, 5xx, network) even after the adapter's bounded retries."""

    code = "secret_store_unavailable"


class GraphError(ConnectorError):
    """Graph answered with an error. `graph_code` is Graph's own code (e.g. Authorization_RequestDenied).
    `uncertain`: an earlier attempt of this write may have been carried out (its answer was lost), so this answer
    does not prove the write never happened."""

    code = "graph_error"
    http_status = 502

    def __init__(self, message: str, *, status: int, graph_code: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.graph_code = graph_code
        self.uncertain = False


class GraphPermissionDenied(GraphError):
    code = "graph_permission_denied"


class GraphNotFound(GraphError):
    code = "graph_not_found"


class DeltaTokenExpired(GraphError):
    """syncStateNotFound, resyncRequired or 410 Gone: drop the delta token and do a full sync."""

    code = "delta_token_expired"


class GraphUnavailable(TransientError):
    """Throttled or failing after every retry; try again later."""

    code = "graph_unavailable"


class AuthenticationFailed(ConnectorError):
    """No token for the tenant. `aadsts` is the Entra error number, if any; `cause` and `fix` are plain words."""

    code = "authentication_failed"
    http_status = 502

    def __init__(self, message: str, *, aadsts: int | None = None, cause: str = "", fix: str = "") -> None:
        super().__init__(message)
        self.aadsts = aadsts
        self.cause = cause
        self.fix = fix

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "aadsts": self.aadsts, "cause": self.cause, "fix": self.fix}


class CredentialUnusable(AuthenticationFailed):
    """The stored credential cannot sign in at all (e.g. a certificate without an RSA key, stored before input
    checks existed): no token request is made."""

    code = "credential_unusable"

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"The stored certificate cannot be used: {problem}",
            cause=problem,
            fix="Update the connection with a certificate holding an unencrypted RSA key of at least 2048 bits, "
            "and upload that certificate to the app registration.",
        )


class AgentRefused(ConnectorError):
    """An on-prem agent's request is refused: unknown, removed, badly signed, replayed, or a registration code that
    is unknown, expired or used. The code says which; the message never echoes what was sent."""

    code = "agent_refused"
    http_status = 401


class LeaseLost(Conflict):
    """The agent no longer holds the job's lease (it expired and another agent took the job): stop working on it."""

    code = "lease_lost"


class DomainAlreadyConnected(Conflict):
    """The on-prem AD domain already has a connection: each domain is one connection (agents, sync, schedule)."""

    code = "domain_already_connected"

    def __init__(self, domain: str, connection_id: str) -> None:
        super().__init__(
            f"AD domain {domain} already has connection {connection_id}: change or delete that one "
            "(each domain is one connection)"
        )
        self.domain = domain
        self.connection_id = connection_id

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "domain": self.domain, "connection_id": self.connection_id}


class NotForAdSource(Conflict):
    """An Entra-only action (consent, Graph sync or rotation, change notifications) asked of a connection whose
    source is on-prem AD; the message names what to use instead. Nothing is changed."""

    code = "not_for_ad_source"


class NotForEntraSource(Conflict):
    """An agent action (registration codes, AD sync) asked of an Entra connection: its directory comes from Graph."""

    code = "not_for_entra_source"
