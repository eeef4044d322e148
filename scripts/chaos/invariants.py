"""The invariants checked after every round, each returning the violations it found (an empty list: it holds).
The stored copy equals the emulator's ground truth; every change is announced at least once on the change feed;
Key Vault's current password equals Entra's for every rotated user and nothing is left pending; no two sync runs
of one connection overlapped; no secret, token or password appears anywhere the suite can read."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared import storage_names as names
from shared.adapters.table_store import TableStore
from shared.composition import Container
from shared.domain import rotation as rules
from shared.domain.rotation_versions import newest_with
from shared.domain.secret_names import password_name
from shared.errors import SecretNotFound

# a JWT (header.payload.signature, base64url): an access or ID token wherever it turns up
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


async def _rows(tables: TableStore, table: str, partition: str) -> dict[str, dict[str, Any]]:
    return {str(r["RowKey"]): dict(r) async for r in tables.query(table, "PartitionKey eq @pk", {"pk": partition})}


async def stored_links(tables: TableStore, cid: str) -> set[tuple[str, str]]:
    prefix = f"{cid}_"
    rows = tables.query(
        names.DIRECTORY_MEMBERS, "PartitionKey ge @lo and PartitionKey lt @hi", {"lo": prefix, "hi": f"{cid}`"}
    )
    return {(str(r["PartitionKey"])[len(prefix) :], str(r["RowKey"])) async for r in rows}


async def stored_copy(tables: TableStore, cid: str, truth: dict[str, Any]) -> list[str]:
    """The synced copy (users, their status and names, groups, memberships) against Entra's ground truth."""
    out: list[str] = []
    users = await _rows(tables, names.DIRECTORY_USERS, cid)
    active = {uid for uid, row in users.items() if row.get("in_scope") and row.get("status") != "inactive"}
    for uid in sorted(set(truth["users"]) - active):
        out.append(f"stored copy: user {uid} is in scope in Entra but not active in the copy")
    for uid in sorted(active - set(truth["users"])):
        out.append(f"stored copy: user {uid} is active in the copy but not in scope in Entra")
    for uid, props in truth["users"].items():
        row = users.get(uid)
        if row is None:
            continue
        if row.get("displayName") != props["displayName"]:
            out.append(f"stored copy: user {uid} displayName {row.get('displayName')!r} != {props['displayName']!r}")
        status = "disabled" if props.get("accountEnabled") is False else "active"
        if row.get("status") != status:
            out.append(f"stored copy: user {uid} status {row.get('status')!r} != {status!r}")
    groups = {gid: row.get("displayName") for gid, row in (await _rows(tables, names.DIRECTORY_GROUPS, cid)).items()}
    if groups != truth["groups"]:
        out.append(f"stored copy: groups differ: stored {sorted(groups.items())} != {sorted(truth['groups'].items())}")
    links, expected = await stored_links(tables, cid), {(g, u) for g, u in truth["memberships"]}
    for g, u in sorted(expected - links):
        out.append(f"stored copy: membership {g}/{u} missing")
    for g, u in sorted(links - expected):
        out.append(f"stored copy: membership {g}/{u} stored but not in Entra")
    return out


def announced(then: dict[str, Any], now: dict[str, Any], events: Iterable[dict[str, Any]]) -> list[str]:
    """Every difference between two ground truths was announced at least once by these events."""
    said = {(e.get("type"), e.get("group_id", ""), e.get("object_id")) for e in events}

    def any_of(kinds: tuple[str, ...], obj: str, group: str = "") -> bool:
        return any((k, group, obj) in said for k in kinds)

    out: list[str] = []
    for uid in sorted(set(now["users"]) - set(then["users"])):
        if not any_of(("user.created", "user.restored"), uid):
            out.append(f"change feed: user {uid} entered the scope unannounced")
    for uid in sorted(set(then["users"]) - set(now["users"])):
        if not any_of(("user.deactivated", "user.deleted", "user.kept"), uid):
            out.append(f"change feed: user {uid} left the scope unannounced")
    for uid in sorted(set(now["users"]) & set(then["users"])):
        a, b = now["users"][uid], then["users"][uid]
        stored = ("displayName", "accountEnabled")  # what the copy holds of a user (and announces when it changes)
        if any(a.get(k) != b.get(k) for k in stored) and not any_of(("user.updated",), uid):
            out.append(f"change feed: user {uid} changed unannounced")
    links_now, links_then = {tuple(p) for p in now["memberships"]}, {tuple(p) for p in then["memberships"]}
    for g, u in sorted(links_now - links_then):
        if not any_of(("membership.added",), u, g):
            out.append(f"change feed: membership {g}/{u} added unannounced")
    for g, u in sorted(links_then - links_now):
        if not any_of(("membership.removed",), u, g):
            out.append(f"change feed: membership {g}/{u} removed unannounced")
    for gid, name in sorted(now["groups"].items()):
        if gid in then["groups"] and then["groups"][gid] != name and not any_of(("group.updated",), gid):
            out.append(f"change feed: group {gid} renamed unannounced")
    return out


def duplicates(events: Iterable[dict[str, Any]], seen: Counter[str]) -> int:
    """Events delivered more than once (by idempotency key), counting into `seen` across rounds."""
    extra = 0
    for event in events:
        key = str(event.get("id"))
        extra += seen[key] > 0
        seen[key] += 1
    return extra


async def passwords(container: Container, cid: str, user_ids: Iterable[str], entra_password: Any) -> list[str]:
    """For every user with a password in Key Vault: the newest current version equals Entra's, nothing pending."""
    out: list[str] = []
    secrets = container.secrets()
    for uid in sorted(user_ids):
        try:
            versions = await secrets.versions(password_name(cid, uid))
        except SecretNotFound:
            versions = []
        if not versions:
            continue  # never rotated (not in the rotation group, or a new user the next run will rotate)
        current = newest_with(versions, rules.CURRENT)
        value = (await secrets.get(password_name(cid, uid), current.version)).value.reveal() if current else None
        if value != entra_password(uid):
            out.append(f"rotation: user {uid}: Key Vault's current password differs from Entra's")
        if any(rules.status_of(v) == rules.PENDING and v.enabled for v in versions):
            out.append(f"rotation: user {uid}: a pending version outlived the run after the round")
    return out


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def overlaps(tables: TableStore, cid: str) -> tuple[list[str], int]:
    """Sync runs of one connection (run history: first start to last end, over every invocation) never overlap.
    Also returns how many runs were compared."""
    rows = [r for r in (await _rows(tables, names.SYNC_RUNS, cid)).values() if r.get("outcome") != "dry_run"]
    spans = sorted((_when(r["started_at"]), _when(r["ended_at"]), str(r["run_id"])) for r in rows)
    out = [
        f"overlap: sync runs {a[2]} ({a[0]:%H:%M:%S.%f}-{a[1]:%H:%M:%S.%f}) and {b[2]} (from {b[0]:%H:%M:%S.%f})"
        for a, b in itertools.pairwise(spans)
        if b[0] < a[1]
    ]
    return out, len(spans)


async def purged(container: Container, cid: str, secret_name: str) -> list[str]:
    """A purged connection left nothing: no connection row, no secret (the purge waited out Key Vault's deletes)."""
    out = []
    if await container.tables().get(names.CONNECTIONS, "connection", cid) is not None:
        out.append(f"purge: connection {cid} is still stored after its purge")
    if await container.secrets().exists(secret_name):
        out.append(f"purge: connection {cid}'s secret is still in Key Vault after its purge")
    return out


def leaks(texts: Iterable[tuple[str, str]], secrets: set[str]) -> list[str]:
    """(where, text) pairs: none may hold a known secret or password, or anything shaped like a token."""
    out: list[str] = []
    needles = sorted(s for s in secrets if len(s) >= 8)
    for where, text in texts:
        for secret in needles:
            if secret in text:
                out.append(f"leak: a secret or password appears in {where}")
                break
        if JWT.search(text):
            out.append(f"leak: a token appears in {where}")
    return out
