"""Raw Graph calls over the emulator's HTTPS socket (httpx), for the emulator's own tests: delta rounds, members."""

from __future__ import annotations

from typing import Any

import httpx

EVENTUAL = {"ConsistencyLevel": "eventual"}


class Graph:
    """Raw Graph calls over the emulator's HTTPS socket with the customer app's token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {token}"}

    async def get(self, url: str, headers: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
        response = await self.http.get(url, params=params or None, headers={**self.auth, **(headers or {})})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def round(self, url: str, **params: str) -> tuple[list[dict[str, Any]], str]:
        """A whole delta round: its entries and its deltaLink."""
        page = await self.get(url, **params)
        entries = list(page["value"])
        while "@odata.nextLink" in page:
            page = await self.get(page["@odata.nextLink"])
            entries += page["value"]
        return entries, page["@odata.deltaLink"]

    async def latest(self, resource: str) -> str:
        select = "displayName,members" if resource == "groups" else "displayName"
        return (await self.round(f"/v1.0/{resource}/delta", **{"$select": select, "$deltatoken": "latest"}))[1]

    async def member_ids(self, group_id: str, transitive: bool = False) -> set[str]:
        segment = "transitiveMembers/microsoft.graph.user" if transitive else "members"
        page = await self.get(
            f"/v1.0/groups/{group_id}/{segment}", headers=EVENTUAL, **{"$select": "id", "$count": "true"}
        )
        return {m["id"] for m in page["value"]}


def links_of(entries: list[dict[str, Any]]) -> set[tuple[str, str, bool]]:
    """(group id, member id, removed?) for every member link a groups/delta round reports."""
    return {(e["id"], link["id"], "@removed" in link) for e in entries for link in e.get("members@delta", [])}


def reasons(entries: list[dict[str, Any]]) -> dict[str, str | None]:
    return {e["id"]: (e.get("@removed") or {}).get("reason") for e in entries}
