"""The wired stack works end to end through the composition root: Key Vault via the app identity, Graph via a
connection's credential read from Key Vault, storage via the settings."""

from __future__ import annotations

import uuid

from emulators.stack import LocalStack
from shared.composition import Container
from shared.domain.connection import Connection, CredentialInfo
from shared.domain.secret_names import client_secret_ref


async def test_container_reaches_every_service(stack: LocalStack, stack_env: dict[str, str]) -> None:
    app = stack.app("customer")
    connection_id = f"c{uuid.uuid4().hex[:10]}"
    ref = client_secret_ref(connection_id)
    async with Container.from_env() as container:
        await container.secrets().set(ref.name, app["client_secret"], tags=ref.tags)
        connection = Connection(
            id=connection_id,
            tenant_id=stack.tenant["id"],
            display_name="t",
            credential_mode="customer_app",
            client_id=app["client_id"],
            credential=CredentialInfo(kind="secret", hint="abc", secret_name=ref.name),
        )
        graph = await container.graph_for(connection)
        org = await graph.get_json("users", params={"$top": "5", "$select": "id"})
        assert len(org["value"]) == 5
        await container.tables().upsert("stackcheck", {"PartitionKey": "p", "RowKey": "r"})
        assert await container.tables().get("stackcheck", "p", "r") is not None
