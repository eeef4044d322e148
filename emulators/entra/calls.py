"""One Graph request as the handlers see it (already authenticated) and the response they give back."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from emulators.entra.errors import GRAPH_CONTENT_TYPE, GraphError, denied
from emulators.entra.model import ServicePrincipal
from emulators.entra.state import Tenant, World


@dataclass
class GraphResult:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class GraphCall:
    method: str
    segments: list[str]  # path after /v1.0, split, `delta()` normalised to `delta`
    params: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    base: str  # https://host:port/v1.0
    world: World
    tenant: Tenant
    roles: frozenset[str]
    sp: ServicePrincipal | None

    def require(self, allowed: frozenset[str]) -> None:
        if not self.roles & allowed:
            raise denied()

    def json_body(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc
        if not isinstance(value, dict):
            raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
        return value

    def link(self, path: str, extra: dict[str, str], drop: tuple[str, ...] = ()) -> str:
        """An absolute link on this host: the call's own query options minus `drop`, plus `extra`."""
        params = {k: v for k, v in self.params.items() if k not in drop and k not in extra}
        params.update(extra)
        query = urlencode(params, safe="$,'()=")
        return f"{self.base}/{path}" + (f"?{query}" if query else "")


def ok(payload: dict[str, Any] | str, status: int = 200) -> GraphResult:
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return GraphResult(status, body.encode(), {"Content-Type": GRAPH_CONTENT_TYPE})


def page(context: str, items: list[str], extra: dict[str, Any] | None = None) -> GraphResult:
    """A collection page from already serialised items (the hot path: no re-encoding of objects)."""
    head = json.dumps({"@odata.context": context, **(extra or {})}, ensure_ascii=False)[:-1]
    return GraphResult(200, f'{head},"value":[{",".join(items)}]}}'.encode(), {"Content-Type": GRAPH_CONTENT_TYPE})


def encode_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError as exc:
        raise GraphError(400, "Request_BadRequest", "The paging or delta token is not valid.") from exc
