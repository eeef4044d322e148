"""Reading a stored connection: the one lookup every feature uses (NotFound when absent)."""

from __future__ import annotations

from shared import storage_names as names
from shared.adapters.table_store import TableStore, etag_of
from shared.domain.connection import PARTITION, Connection, from_entity
from shared.errors import ConnectionPurging, NotFound


async def get_connection(tables: TableStore, connection_id: str, *, purging_ok: bool = False) -> tuple[Connection, str]:
    """The connection and its ETag (for conditional updates). A connection being purged is gone to every feature
    (ConnectionPurging, a NotFound) unless `purging_ok` (showing it, running the purge)."""
    row = await tables.get(names.CONNECTIONS, PARTITION, connection_id)
    if row is None:
        raise NotFound("No such connection")  # the id is the caller's input: never echoed
    connection = from_entity(row)
    if connection.state == "purging" and not purging_ok:
        raise ConnectionPurging(connection.id)
    return connection, etag_of(row) or ""


async def load_connection(tables: TableStore, connection_id: str) -> Connection:
    return (await get_connection(tables, connection_id))[0]
