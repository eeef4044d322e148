"""GraphSubscriptions: Graph's /subscriptions (create, list, renew, delete) over the one Graph adapter (GraphClient
owns retries, error typing). A create whose answer was lost is found again by list (same notificationUrl)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.adapters.graph import GraphClient
from shared.domain.timestamps import from_iso, to_iso
from shared.errors import GraphNotFound


class GraphSubscriptions:
    def __init__(self, graph: GraphClient) -> None:
        self._graph = graph

    async def list(self) -> list[dict[str, Any]]:
        """The calling app's subscriptions in this tenant (one page: at most 100 per resource per app and tenant)."""
        out: list[dict[str, Any]] = []
        async for page in self._graph.pages("subscriptions"):
            out.extend(page)
        return out

    async def create(
        self, resource: str, change_type: str, url: str, lifecycle_url: str, client_state: str, expires: datetime
    ) -> dict[str, Any]:
        body = {
            "changeType": change_type,
            "notificationUrl": url,
            "lifecycleNotificationUrl": lifecycle_url,
            "resource": resource,
            "expirationDateTime": to_iso(expires),
            "clientState": client_state,
        }
        response = await self._graph.request("POST", "subscriptions", body=body, label="subscriptions.create")
        return _public(json.loads(response.content))

    async def renew(self, subscription_id: str, expires: datetime) -> datetime | None:
        """PATCH the expiry; the new expiry as Graph states it. GraphNotFound when Graph no longer has it."""
        response = await self._graph.request(
            "PATCH",
            f"subscriptions/{subscription_id}",
            body={"expirationDateTime": to_iso(expires)},
            label="subscriptions.renew",
        )
        return from_iso(json.loads(response.content).get("expirationDateTime"))

    async def delete(self, subscription_id: str) -> None:
        """Idempotent: a subscription Graph no longer has is fine."""
        try:
            await self._graph.request("DELETE", f"subscriptions/{subscription_id}", label="subscriptions.delete")
        except GraphNotFound:
            return


def _public(sub: dict[str, Any]) -> dict[str, Any]:
    """What the connector keeps of a subscription: never its clientState."""
    return {k: v for k, v in sub.items() if k != "clientState"}
