"""Groups of a connection's tenant found by the start of their name (the console's sync- and rotation-group
pickers): one Graph request `GET /groups?$filter=startswith(displayName,'...')` through the connection's own
credential. Graph documents startswith on displayName as a default (non-advanced) query."""

from __future__ import annotations

from typing import Any

from shared.adapters.connection_store import load_connection
from shared.errors import ValidationError

MAX_RESULTS = 25
MAX_TEXT = 120


def filter_text(text: str) -> str:
    """The OData string literal for `text` (a quote doubled), refusing what a group name cannot start with."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > MAX_TEXT or any(ord(ch) < 32 for ch in cleaned):
        raise ValidationError({"group_search": f"type the start of a group's name (1 to {MAX_TEXT} characters)"})
    return "'" + cleaned.replace("'", "''") + "'"


async def search_groups(container: Any, connection_id: str, text: str) -> list[dict[str, str]]:
    """Up to 25 groups whose display name starts with `text`: id and name."""
    literal = filter_text(text)
    connection = await load_connection(container.tables(), connection_id)
    graph = await container.graph_for(connection)
    params = {
        "$filter": f"startswith(displayName,{literal})",
        "$select": "id,displayName",
        "$top": str(MAX_RESULTS),
    }
    data = await graph.get_json("groups", params=params, label="groups.search")
    return [{"id": str(g.get("id")), "name": str(g.get("displayName") or "")} for g in data.get("value", [])]
