"""The suite's world on the local stack: connections stored as the app stores them (each with its own sync,
rotation and team groups in the emulated tenant, and its app secret in Key Vault), tenant changes made through the
Entra emulator's control API, and the secrets the leak scan looks for."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from emulators.entra.control import ControlError
from emulators.stack import LocalStack
from shared import storage_names as names
from shared.composition import Container
from shared.domain.connection import Connection, CredentialInfo, to_entity
from shared.domain.secret_names import client_secret_ref

USERS_PER_CONNECTION = 12


def _password() -> str:
    return f"Start-{uuid.uuid4().hex[:12]}-Aa1!"


@dataclass
class ChaosConnection:
    connection: Connection
    team_groups: list[str]
    deleted: list[str] = field(default_factory=list)  # soft-deleted users, restorable

    @property
    def id(self) -> str:
        return self.connection.id

    @property
    def sync_group(self) -> str:
        return str(self.connection.sync_group_id)

    @property
    def rotation_group(self) -> str:
        return str(self.connection.rotation_group_id)


@dataclass
class ChaosWorld:
    stack: LocalStack
    connections: list[ChaosConnection]
    secrets: set[str] = field(default_factory=set)  # app secrets: must appear in no log, row, message or response

    @property
    def tid(self) -> str:
        return str(self.stack.tenant["id"])

    def truth(self, conn: ChaosConnection) -> dict[str, Any]:
        return self.stack.entra.control.ground_truth(self.tid, conn.sync_group)

    def user_ids(self, conn: ChaosConnection) -> list[str]:
        return sorted(self.truth(conn)["users"])

    def tenant_op(self, conn: ChaosConnection, op: str, pick: int) -> str:
        """One change of the tenant within the connection's scope; returns what was done (or why not)."""
        control, tid = self.stack.entra.control, self.tid
        users = self.user_ids(conn)
        user = users[pick % len(users)] if users else None
        group = conn.team_groups[pick % len(conn.team_groups)]
        try:
            if op == "create" or user is None:
                groups = [conn.sync_group, conn.rotation_group] + ([group] if pick % 2 else [])
                control.create_user(tid, "Chaos", f"U{pick}", password=_password(), groups=groups)
            elif op == "update":
                control.update_user(tid, user, jobTitle=f"Title {pick}")
            elif op == "rename_user":
                control.update_user(tid, user, displayName=f"Chaos Renamed {pick}")
            elif op == "disable":
                control.update_user(tid, user, accountEnabled=bool(pick % 2))
            elif op == "delete":
                control.delete_user(tid, user)
                conn.deleted.append(user)
            elif op == "restore" and conn.deleted:
                control.restore_user(tid, conn.deleted.pop(pick % len(conn.deleted)))
            elif op == "add_member":
                control.add_member(tid, group, user)
            elif op == "remove_member":
                control.remove_member(tid, group, user)
            elif op == "rename_group":
                control.rename_group(tid, group, f"Team {pick}")
            else:
                return f"{op}: nothing to do"
        except ControlError as exc:
            return f"{op}: not possible ({exc})"
        return op


async def throwaway_connection(stack: LocalStack, container: Container, rng: random.Random) -> tuple[str, str]:
    """A connection with its app secret in Key Vault, to be purged in a round: (its id, the secret's name)."""
    app = stack.app("customer")
    connection_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    ref = client_secret_ref(connection_id)
    await container.secrets().set(ref.name, app["client_secret"], tags=ref.tags)
    connection = Connection(
        id=connection_id,
        tenant_id=str(stack.tenant["id"]),
        display_name="chaos purge",
        credential_mode="customer_app",
        client_id=app["client_id"],
        credential=CredentialInfo(kind="secret", hint="abc", secret_name=ref.name),
        sync_enabled=False,
        state="active",
    )
    await container.tables().upsert(names.CONNECTIONS, to_entity(connection), replace=True)
    return connection_id, ref.name


async def make_world(stack: LocalStack, container: Container, count: int, rng: random.Random) -> ChaosWorld:
    control = stack.entra.control
    tid = str(stack.tenant["id"])
    app = stack.app("customer")
    world = ChaosWorld(stack, [], {app["client_secret"], stack.app("connector_identity")["client_secret"]})
    for n in range(count):
        tag = f"{n}{uuid.UUID(int=rng.getrandbits(128)).hex[:6]}"
        sync_group = control.create_group(tid, f"chaos-sync-{tag}")["id"]
        rotation_group = control.create_group(tid, f"chaos-rotation-{tag}")["id"]
        teams = [control.create_group(tid, f"chaos-team-{tag}-{i}")["id"] for i in range(2)]
        for i in range(USERS_PER_CONNECTION):
            groups = [sync_group, teams[i % 2]] + ([rotation_group] if i % 3 else [])
            control.create_user(tid, "Chaos", f"S{tag}{i}", password=_password(), groups=groups)
        connection_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        ref = client_secret_ref(connection_id)
        await container.secrets().set(ref.name, app["client_secret"], tags=ref.tags)
        connection = Connection(
            id=connection_id,
            tenant_id=tid,
            display_name=f"chaos {n}",
            credential_mode="customer_app",
            client_id=app["client_id"],
            credential=CredentialInfo(kind="secret", hint="abc", secret_name=ref.name),
            rotation_enabled=True,
            rotation_group_id=rotation_group,
            sync_group_id=sync_group,
            state="active",
        )
        await container.tables().upsert(names.CONNECTIONS, to_entity(connection), replace=True)
        world.connections.append(ChaosConnection(connection, teams))
    return world
