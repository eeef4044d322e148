"""Just-in-time users for end-user sign-in: a stored user signs in as stored (refused when deactivated or
disabled); a user not stored yet is checked against the connection's scope with the app's own credentials
(checkMemberGroups on the sync group: transitive) and, in scope, written through the sync's applier with its
direct groups, exactly as the sync's fill phase would write it, so the next delta run finds nothing to change."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.adapters.directory_store import DirectoryStore
from shared.adapters.sync_state import SyncState
from shared.domain.connection import Connection
from shared.domain.directory import ACTIVE, group_record, user_record, user_status
from shared.domain.sync_plan import UserWrite, plan_group_writes
from shared.services import sync_fetch as fetch
from shared.services.sync_apply import SyncApplier
from shared.storage_names import DIRECTORY_GROUPS, DIRECTORY_USERS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    outcome: str  # signed_in | created | out_of_scope | deactivated
    object_id: str


async def in_scope(graph: Any, connection: Connection, object_id: str) -> bool:
    """Whether the user is in the connection's scope: a member of the sync group, nested groups included
    (POST /users/{id}/checkMemberGroups answers transitively in one request), or anyone without a sync group."""
    if not connection.sync_group_id:
        return True
    response = await graph.request(
        "POST",
        f"users/{quote(object_id)}/checkMemberGroups",
        body={"groupIds": [connection.sync_group_id]},
        label="signin.checkMemberGroups",
    )
    found = response.json().get("value", [])
    return connection.sync_group_id.lower() in {str(g).lower() for g in found}


def _applier(container: Any, connection: Connection, run_id: str) -> SyncApplier:
    tables = container.tables()
    return SyncApplier(
        DirectoryStore(tables, connection.id),
        SyncState(tables, connection.id),
        container.queues(),
        tenant_id=connection.tenant_id,
        run_id=run_id,
        dry_run=False,
        defaults=connection.user_defaults,
    )


async def admit(container: Any, connection: Connection, object_id: str, run_id: str) -> Admission:
    """The signed-in user (tid, oid) as the directory copy knows it, created just in time when in scope. Every
    step is idempotent: a sign-in cut short leaves the user unstored (its row is written last) and the next one
    completes it; events replayed by a crash carry the same ids."""
    tables = container.tables()
    row = await tables.get(DIRECTORY_USERS, connection.id, object_id)
    applier = _applier(container, connection, run_id)
    if row is not None:
        if row.get("status", ACTIVE) != ACTIVE or row.get("in_scope", True) is False:
            return Admission("deactivated", object_id)
        await _announce(applier, object_id)
        return Admission("signed_in", object_id)
    graph = await container.graph_for(connection)
    body = (await fetch.users_by_id(graph, [object_id])).get(object_id)
    if not body or not await in_scope(graph, connection, object_id):
        return Admission("out_of_scope", object_id)
    record = user_record(body, connection.user_defaults)
    status = user_status(record)
    if status != ACTIVE:
        return Admission("deactivated", object_id)
    groups = (await fetch.groups_of_users(graph, [object_id])).get(object_id) or []
    records = [group_record(g) for g in groups if "id" in g]
    stored_groups = {}
    for r in records:
        found = await tables.get(DIRECTORY_GROUPS, connection.id, r.id)
        if found is not None:
            stored_groups[r.id] = str(found.get("hash", ""))
    await applier.groups(plan_group_writes(records, stored_groups))
    store = applier.store
    links = {(r.id, object_id) for r in records}
    new_links = sorted(links - await store.existing_links(links))
    await applier.links_many([(gid, {uid}, set()) for gid, uid in new_links])
    await applier.users([UserWrite("user.created", record, status)])  # last: the row says the user is complete
    await _announce(applier, object_id)
    log.info("connection %s: user %s created just in time (%d groups)", connection.id, object_id, len(records))
    return Admission("created", object_id)


async def _announce(applier: SyncApplier, object_id: str) -> None:
    await applier.signed_in(object_id)
    await applier.state.drop_sent()


async def identity(container: Any, connection_id: str, object_id: str) -> dict[str, Any] | None:
    """The user as the directory copy holds it, with its groups (ids and names), or None when not stored."""
    tables = container.tables()
    row = await tables.get(DIRECTORY_USERS, connection_id, object_id)
    if row is None:
        return None
    links = await DirectoryStore(tables, connection_id).links_of_users({object_id})
    groups = []
    for gid in sorted(links):
        group = await tables.get(DIRECTORY_GROUPS, connection_id, gid)
        groups.append({"id": gid, "display_name": (group or {}).get("displayName")})
    return {
        "object_id": object_id,
        "user_principal_name": row.get("userPrincipalName"),
        "mail": row.get("mail"),
        "display_name": row.get("displayName"),
        "groups": groups,
    }
