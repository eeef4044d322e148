"""Verification service: can this connection get a token, with the permissions its features need, and see its groups?"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.clouds import REGISTRIES
from shared.domain.connection import Connection, to_entity
from shared.domain.token_claims import roles_of
from shared.domain.verification import Check, Report, expiry_check, permissions_check, rotation_role_check
from shared.errors import (
    AuthenticationFailed,
    ConcurrencyConflict,
    ConfigurationError,
    GraphError,
    GraphNotFound,
    GraphPermissionDenied,
    SecretNotFound,
    TransientError,
)
from shared.services import audit
from shared.services.connections import load
from shared.storage_names import CONNECTIONS

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
ROLE_WAIT_S = 60.0
ROLE_POLL_S = 10.0
RECENT_CONSENT = timedelta(minutes=10)


class _StaticToken:
    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token


async def _token(container: Any, connection: Connection) -> str:
    from shared.adapters.entra_auth import CredentialTokens

    credential = await container.connection_credential(connection)  # a fresh one: no cached role-less token
    return str(await CredentialTokens(credential, container.cloud(connection.cloud).graph_scope).token())


async def _token_with_roles(container: Any, connection: Connection, wait_s: float, sleep: Sleep) -> tuple[str, float]:
    waited = 0.0
    while True:
        token = await _token(container, connection)
        if roles_of(token) or waited >= wait_s:
            return token, waited
        log.info("connection %s: token has no roles yet, waiting for consent to propagate", connection.id)
        await sleep(ROLE_POLL_S)
        waited += ROLE_POLL_S


def _operator_failure(container: Any, connection: Connection, exc: Exception) -> Check | None:
    """For an admin-consent connection: which cloud's operator app is not configured, or has no credential."""
    if connection.credential_mode != "admin_consent":
        return None
    cloud = container.cloud(connection.cloud)
    app = container.settings.operator_apps[cloud.registry]
    where = f"the {REGISTRIES[cloud.registry]} cloud"
    if isinstance(exc, ConfigurationError):
        return Check(
            "operator_app",
            "fail",
            f"No operator app is configured for {where} (connection cloud {cloud.name!r}): "
            f"{app.client_id_setting} is not set.",
            f"Register the operator app in {where}, set {app.client_id_setting} to its client id and store its "
            f"credential in Key Vault as the secret {app.secret_name!r} ({app.secret_setting}).",
        )
    if isinstance(exc, SecretNotFound):
        return Check(
            "operator_app",
            "fail",
            f"The credential of the operator app for {where} is missing from Key Vault "
            f"(secret {app.secret_name!r}, {app.secret_setting}).",
            f"Store the client secret Value or certificate PEM of the operator app registered in {where} in Key "
            f"Vault as {app.secret_name!r}.",
        )
    return None


def _token_failure(exc: Exception) -> Check:
    if isinstance(exc, AuthenticationFailed):
        return Check("token", "fail", exc.message, exc.fix)
    if isinstance(exc, SecretNotFound):
        return Check(
            "token",
            "fail",
            "The app credential is missing from Key Vault.",
            "Update the connection with a new client secret or certificate.",
        )
    return Check(
        "token", "fail", f"No token: {getattr(exc, 'message', type(exc).__name__)}", "Try again in a few minutes."
    )


async def _probe(graph: Any, connection: Connection) -> list[Check]:
    checks: list[Check] = []
    try:
        await graph.get_json("organization", label="verify-organization")
        checks.append(Check("organization", "pass", "Read the organization profile."))
    except GraphPermissionDenied:
        checks.append(
            Check(
                "organization",
                "warn",
                "Cannot read the organization profile (needs Organization.Read.All).",
                "Optional: grant Organization.Read.All to show the tenant's name and domains.",
            )
        )
    except GraphError as exc:
        checks.append(Check("organization", "warn", exc.message, "Try again later."))
    try:
        users = await graph.get_json("users", params={"$top": "1", "$select": "id"}, label="verify-users")
        checks.append(Check("read_users", "pass", f"Read {len(users.get('value', []))} user(s) as a probe."))
    except GraphError as exc:
        checks.append(Check("read_users", "fail", exc.message, "Grant User.Read.All (Application) and admin consent."))
    if connection.sync_enabled and connection.sync_group_id:
        checks.append(await _group_check(graph, "sync_group", connection.sync_group_id))
    if connection.rotation_enabled and connection.rotation_group_id:
        check = await _group_check(graph, "rotation_group", connection.rotation_group_id)
        checks.append(check)
        if check.status == "pass" and connection.sync_enabled and connection.sync_group_id:
            checks.append(await _scope_check(graph, connection.rotation_group_id, connection.sync_group_id))
    return checks


async def _group_check(graph: Any, name: str, group_id: str) -> Check:
    try:
        group = await graph.get_json(f"groups/{group_id}", params={"$select": "id,displayName"}, label="verify-group")
    except GraphNotFound:
        return Check(
            name,
            "fail",
            f"Group {group_id} was not found in the tenant.",
            "Check the group id (Entra admin center > Groups > Object Id).",
        )
    except GraphPermissionDenied as exc:
        return Check(name, "fail", exc.message, "Grant GroupMember.Read.All (Application) and admin consent.")
    except GraphError as exc:
        return Check(name, "fail", exc.message, "Check the group id and try again.")
    return Check(name, "pass", f"Found group {group.get('displayName', group_id)!s}.")


async def _members(graph: Any, group_id: str) -> set[str]:
    ids: set[str] = set()
    path = f"groups/{group_id}/transitiveMembers"
    async for page in graph.pages(path, params={"$select": "id", "$top": "999"}, label="verify-members"):
        users = (item for item in page if item.get("@odata.type", "#microsoft.graph.user").endswith("user"))
        ids.update(str(item["id"]) for item in users)
    return ids


async def _scope_check(graph: Any, rotation_group: str, sync_group: str) -> Check:
    try:
        outside = await _members(graph, rotation_group) - await _members(graph, sync_group)
    except GraphError as exc:
        return Check("rotation_scope", "warn", exc.message, "Verify again later.")
    if outside:
        return Check(
            "rotation_scope",
            "warn",
            f"{len(outside)} member(s) of the rotation group are outside the sync group.",
            "Add them to the sync group, or their rotated passwords cannot be matched to synced users.",
        )
    return Check("rotation_scope", "pass", "Every rotation group member is inside the sync scope.")


async def _rotation_role(container: Any, graph: Any, connection: Connection) -> Check:
    from shared.services.password_rotation import rotation_status
    from shared.services.reset_role import check_reset_role

    status = await rotation_status(container.tables(), connection.id)
    return rotation_role_check(await check_reset_role(graph), status.get("detail", "") if status else "")


async def run_checks(container: Any, connection: Connection, *, wait_s: float, sleep: Sleep) -> Report:
    from shared.adapters.graph import GraphClient, RetryPolicy

    checks: list[Check] = []
    waited = 0.0
    try:
        token, waited = await _token_with_roles(container, connection, wait_s, sleep)
    except (AuthenticationFailed, ConfigurationError, SecretNotFound, TransientError) as exc:
        checks.append(_operator_failure(container, connection, exc) or _token_failure(exc))
    else:
        note = f" (waited {waited:.0f} s for the new consent to propagate)" if waited else ""
        checks.append(Check("token", "pass", f"Got an app-only token for tenant {connection.tenant_id}{note}."))
        checks.append(permissions_check(connection, roles_of(token)))
        cloud = container.cloud(connection.cloud)
        graph = GraphClient(
            container.http(), _StaticToken(token), cloud.graph_v1, retry=RetryPolicy(max_attempts=2, sleep=sleep)
        )
        checks.extend(await _probe(graph, connection))
        if connection.rotation_enabled:
            checks.append(await _rotation_role(container, graph, connection))
    if connection.credential_mode == "customer_app" and connection.credential:
        expiry = expiry_check(connection.credential.expires_on, datetime.now(UTC))
        if expiry:
            checks.append(expiry)
    return Report(connection.id, checks, waited)


async def verify_connection(
    container: Any, connection_id: str, *, sleep: Sleep = asyncio.sleep, wait_s: float | None = None
) -> Report:
    connection, etag = await load(container, connection_id)
    if connection.is_ad:  # "Test permissions" of an AD connection: what the cloud can check (no Graph, no token)
        from shared.services.ad_connection import test_permissions

        return await test_permissions(container, connection)
    recent = connection.consented_at is not None and datetime.now(UTC) - connection.consented_at < RECENT_CONSENT
    report = await run_checks(
        container, connection, wait_s=ROLE_WAIT_S if wait_s is None and recent else wait_s or 0.0, sleep=sleep
    )
    await _record(container, connection, etag, report)
    return report


async def _record(container: Any, connection: Connection, etag: str, report: Report) -> None:
    ready = connection.credential_mode == "customer_app" or connection.consented_at is not None
    if report.status == "fail" and connection.state in ("active", "pending_verification"):
        failed = next(c for c in report.checks if c.status == "fail")
        updated = connection.with_changes(state="error", state_reason=f"{failed.name}: {failed.detail}"[:500])
    elif report.status != "fail" and ready and connection.state != "disabled":
        updated = connection.with_changes(state="active", state_reason=None)
    else:
        updated = None
    if updated is not None and (updated.state, updated.state_reason) != (connection.state, connection.state_reason):
        try:
            await container.tables().update_if_match(CONNECTIONS, to_entity(updated), etag)
        except ConcurrencyConflict:
            log.warning("connection %s changed during verification; state left as is", connection.id)
    if (updated or connection).state == "active" and report.status != "fail":
        from shared.services.subscriptions import after_activation

        await after_activation(container, updated or connection)  # subscribe when missing (docs/notifications.md)
    failing = ", ".join(c.name for c in report.checks if c.status != "pass")
    await audit.record(container.tables(), "connection.verify", connection.id, report.status, failing)
