"""Purge test worlds: connections made through the API with synced data, rotated passwords and their history, and
walks over every table and the vault for anything of one connection."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field

from emulators.stack import LocalStack
from scripts import host
from shared import storage_names as names
from shared.composition import Container
from shared.domain import rotation as rules
from shared.domain.secret_names import password_ref
from shared.domain.timestamps import utc_now
from shared.services.rotation_state import RotationState
from tests.integration.connections.conftest import SEEN, call, request


@dataclass
class PurgeWorld:
    stack: LocalStack
    connection_id: str
    users: list[str] = field(default_factory=list)  # in the emulated tenant (synced and rotated)
    groups: list[str] = field(default_factory=list)

    @property
    def tid(self) -> str:
        return str(self.stack.tenant["id"])

    def remove(self) -> None:
        """Leave the shared tenant as it was."""
        control = self.stack.entra.control
        for uid in self.users:
            control.hard_delete_user(self.tid, uid)
        for gid in self.groups:
            control.delete_group(self.tid, gid)


async def make_connection(stack: LocalStack, *, users: int = 0) -> PurgeWorld:
    """A verified customer-app connection (sync and rotation on) over its own groups with `users` users."""
    control, tid = stack.entra.control, str(stack.tenant["id"])
    tag = uuid.uuid4().hex[:6]
    groups = [control.create_group(tid, f"purge-{kind}-{tag}")["id"] for kind in ("sync", "rotation")]
    world = PurgeWorld(stack, "", groups=groups)
    for i in range(users):
        start = f"Start-{uuid.uuid4().hex[:12]}-Aa1!"
        SEEN.secrets.add(start)
        world.users.append(str(control.create_user(tid, "Purge", f"p{i}{tag}", password=start, groups=groups)["id"]))
    app = stack.app("customer")
    SEEN.secrets.add(app["client_secret"])
    body = {
        "tenant": tid,
        "display_name": f"Purge {tag}",
        "credential_mode": "customer_app",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "features": {"sync": True, "rotation": True},
        "sync_group_id": groups[0],
        "rotation_group_id": groups[1],
        "allow_second_connection": True,  # tests may hold two connections of the shared tenant (own groups each)
    }
    status, created, _ = await call("connections_create", request("POST", "connections", body))
    assert status == 201, created
    world.connection_id = str(created["id"])
    status, report, _ = await call("connections_verify", request("POST", "v", route={"id": world.connection_id}))
    assert status == 200 and report["status"] != "fail", report
    return world


async def sync_and_rotate(world: PurgeWorld, container: Container) -> None:
    """A full sync through the queue worker, then a rotation run: rows in every table, password secrets."""
    from shared.services.password_rotation import run_rotation

    cid = world.connection_id
    await host.queue("sync_worker", {"connection_id": cid, "mode": "full", "trigger": "manual"})
    report = await run_rotation(container, cid)
    assert set(report.rotated) == set(world.users), report.to_dict()
    for uid in world.users:
        SEEN.secrets.add(str(world.stack.entra.control.get_password(world.tid, uid)))


async def seed_rotated_users(container: Container, connection_id: str, count: int) -> list[str]:
    """`count` users as a finished rotation leaves them: a password secret (current version), the rotation state
    row and a history row, written by the product's own RotationState (no Graph calls: the purge never needs one)."""
    state, secrets = RotationState(container.tables(), connection_id), container.secrets()
    users = [str(uuid.uuid4()) for _ in range(count)]
    limit = asyncio.Semaphore(16)

    async def one(uid: str) -> None:
        async with limit:
            now, run = utc_now(), "seed"
            etag = await state.lock(uid, run, now)
            assert etag is not None
            ref = password_ref(connection_id, uid)
            tags = rules.with_status(ref.tags, rules.CURRENT, rotated_at=now.isoformat())
            password = f"Seeded-{uuid.uuid4().hex}-Aa1!"
            if len(SEEN.secrets) < 400:  # the package's last test scans every response, log and row for them
                SEEN.secrets.add(password)
            info = await secrets.set(ref.name, password, tags=tags)
            await state.finish(uid, etag, {"last_rotated_at": now.isoformat(), "last_result": "rotated"})
            await state.record(uid, now, run, "rotated", "", info.version)

    await asyncio.gather(*(one(uid) for uid in users))
    return users


async def rows_of(container: Container, connection_id: str) -> dict[str, list[str]]:
    """Every row of every table that names the connection (in its keys or any value), as sorted JSON."""
    found: dict[str, list[str]] = {}
    for table in names.TABLES:
        rows = [json.dumps(dict(row), default=str, sort_keys=True) async for row in container.tables().query(table)]
        found[table] = sorted(r for r in rows if connection_id.lower() in r.lower())
    return found


def vault_names_of(stack: LocalStack, connection_id: str) -> list[str]:
    """Secret names of the connection in the vault: active, being deleted or deleted (recoverable)."""
    snapshot = stack.keyvault.control.snapshot()
    every = [*snapshot["secrets"], *snapshot["deleted"], *snapshot["deleting"]]
    return sorted(n for n in every if connection_id.lower() in n.lower())
