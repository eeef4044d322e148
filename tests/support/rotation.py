"""A rotation world in the shared emulated tenant: its own groups, users of every kind and a stored connection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from emulators.stack import LocalStack
from shared import storage_names as names
from shared.composition import Container
from shared.domain.connection import Connection, CredentialInfo, to_entity
from shared.domain.rotation import CURRENT
from shared.domain.rotation_versions import newest_with
from shared.domain.secret_names import client_secret_ref, password_name

KINDS = ("ok1", "ok2", "onprem", "disabled", "privileged", "outside")


@dataclass
class RotationWorld:
    stack: LocalStack
    connection: Connection
    users: dict[str, str]  # kind -> user id
    initial: dict[str, str] = field(default_factory=dict)  # user id -> the password Entra had at the start

    @property
    def tid(self) -> str:
        return str(self.stack.tenant["id"])

    def entra_password(self, user_id: str) -> str | None:
        return self.stack.entra.control.get_password(self.tid, user_id)

    async def vault_current(self, container: Container, user_id: str) -> tuple[str, dict[str, str]]:
        """What a reader takes: the newest version tagged current (by the product's own order): value and tags."""
        name = password_name(self.connection.id, user_id)
        info = newest_with(await container.secrets().versions(name), CURRENT)
        assert info is not None, f"no current version of {name}"
        got = await container.secrets().get(name, info.version)
        return got.value.reveal(), dict(got.tags)


async def make_world(stack: LocalStack, container: Container, *, kinds: tuple[str, ...] = KINDS) -> RotationWorld:
    control = stack.entra.control
    tid = str(stack.tenant["id"])
    tag = uuid.uuid4().hex[:6]
    rotation_group = control.create_group(tid, f"rotation-{tag}")["id"]
    sync_group = control.create_group(tid, f"sync-{tag}")["id"]
    users: dict[str, str] = {}
    initial: dict[str, str] = {}
    for kind in kinds:
        start = f"Start-{uuid.uuid4().hex[:12]}-Aa1!"
        user = control.create_user(
            tid,
            "Rot",
            f"{kind}{tag}",
            password=start,
            account_enabled=kind != "disabled",
            on_premises_sync=kind == "onprem",
            roles=["Global Administrator"] if kind == "privileged" else None,  # beyond a User Administrator
            groups=[rotation_group] if kind == "outside" else [rotation_group, sync_group],
        )
        users[kind] = str(user["id"])
        initial[str(user["id"])] = start
    app = stack.app("customer")
    connection_id = str(uuid.uuid4())  # connection ids are GUIDs (the HTTP API refuses anything else)
    ref = client_secret_ref(connection_id)
    await container.secrets().set(ref.name, app["client_secret"], tags=ref.tags)
    connection = Connection(
        id=connection_id,
        tenant_id=tid,
        display_name="rotation test",
        credential_mode="customer_app",
        client_id=app["client_id"],
        credential=CredentialInfo(kind="secret", hint="abc", secret_name=ref.name),
        rotation_enabled=True,
        rotation_group_id=rotation_group,
        sync_group_id=sync_group,
        state="active",
    )
    await container.tables().upsert(names.CONNECTIONS, to_entity(connection), replace=True)
    return RotationWorld(stack, connection, users, initial)


def texts_of(rows: list[dict[str, Any]]) -> str:
    return " ".join(str(v) for row in rows for v in row.values())


def remove_world(world: RotationWorld) -> None:
    """Leave the shared tenant as it was: the world's users and groups go."""
    control = world.stack.entra.control
    for uid in world.users.values():
        control.hard_delete_user(world.tid, uid)
    for gid in (world.connection.rotation_group_id, world.connection.sync_group_id):
        if gid:
            control.delete_group(world.tid, gid)
