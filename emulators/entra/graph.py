"""Microsoft Graph v1.0 front door: path normalisation, faults and counters, bearer-token checks, routing."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Mapping
from typing import Any

from emulators.common.tokens import InvalidToken, TokenSigner
from emulators.entra import members, resources
from emulators.entra.batch import run_batch
from emulators.entra.calls import GraphCall, GraphResult
from emulators.entra.clouds import GRAPH_RESOURCES
from emulators.entra.delta import handle_delta
from emulators.entra.errors import GRAPH_CONTENT_TYPE, GraphError
from emulators.entra.faults import AFTER_APPLY, Faults
from emulators.entra.notifier import Notifier
from emulators.entra.roles import list_role_assignments
from emulators.entra.state import World
from emulators.entra.throttle import WRITE_METHODS, request_cost

SERVICE_UNAVAILABLE = {
    "503": (503, "serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
    "504": (504, "UnknownError", "The gateway timed out waiting for the service."),
}


GRAPH_AUDIENCES = sorted(GRAPH_RESOURCES)


class DropConnection(Exception):
    """The fault plan says: close the connection without answering."""


def normalise(path: str) -> list[str]:
    """`/users//delta()` and `/users/delta` are the same; the SDK sends both forms."""
    segments = [s for s in path.split("/") if s]
    return [s[:-2] if s.endswith("()") else s for s in segments]


def endpoint_name(method: str, segments: list[str]) -> str:
    if not segments:
        return "unknown"
    head, rest = segments[0], segments[1:]
    if head == "$batch":
        return "batch"
    if head in ("users", "groups"):
        if not rest:
            return f"{head}.list"
        if rest[0] == "delta":
            return f"{head}.delta"
        if len(rest) >= 2:
            return f"{head}.{rest[1]}"
        return f"{head}.update" if method == "PATCH" else f"{head}.get"
    return head


class GraphService:
    def __init__(self, world: World, signer: TokenSigner, faults: Faults, notifier: Notifier | None = None) -> None:
        self.notifier = notifier or Notifier(world)
        self.world = world
        self.signer = signer
        self.faults = faults
        self._verified: dict[str, dict[str, Any]] = {}
        self._batch_order = random.Random(f"{world.seed}|batch-order")  # seeded: the same run, the same orders

    async def handle(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        base: str,
    ) -> GraphResult:
        """Answer one Graph request (also each request inside a $batch)."""
        segments = normalise(path)
        endpoint = endpoint_name(method, segments)
        self.faults.count(endpoint)
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id", request_id)
        try:
            claims = self._authenticate(headers)
            after = await self._apply_faults("/v1.0" + path, endpoint, claims["tid"])  # per app and tenant
            with self.world.lock:
                tenant = self.world.tenants.get(claims["tid"])
                if tenant is None or claims.get("aud") != tenant.graph_resource:  # another cloud's Graph token
                    raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
                tenant.settle(self.world.clock.now(), self.world.settings.deleted_items_retention_s)
                call = GraphCall(
                    method=method,
                    segments=segments,
                    params=dict(params),
                    headers=headers,
                    body=body,
                    base=base,
                    world=self.world,
                    tenant=tenant,
                    roles=frozenset(claims.get("roles", ())),
                    sp=tenant.service_principals.get(claims.get("appid", "")),
                )
                cost = 0 if endpoint == "batch" else request_cost(method, segments, params)  # inner ones count
                if cost:
                    self._throttle(claims, tenant, method, cost, headers)
                result = None if endpoint in ("batch", "subscriptions") else route(call)
                if result is not None:
                    result.headers["x-aad-resource-unit"] = str(cost)
            if result is None and endpoint == "subscriptions":  # outside the lock: it calls the notification URL
                result = await self.notifier.store.handle(call, self.notifier)
            if result is None:
                result = await run_batch(call, self.handle, self._batch_order)
            if after is not None:
                _lose_the_answer(after)
        except GraphError as exc:
            result = GraphResult(
                exc.status,
                exc.body(request_id, client_request_id, self.world.clock.now()),
                {"Content-Type": GRAPH_CONTENT_TYPE, **exc.headers},
            )
        result.headers.setdefault("request-id", request_id)
        result.headers.setdefault("client-request-id", client_request_id)
        return result

    def _throttle(
        self, claims: Mapping[str, Any], tenant: Any, method: str, cost: int, headers: Mapping[str, str]
    ) -> None:
        """Resource-unit throttling per app and tenant (Learn: "Microsoft Graph service-specific throttling limits",
        identity and access): 429 with Retry-After and the documented x-ms-throttle-* headers."""
        refused = self.world.throttle.charge(
            str(claims.get("appid", "")),
            tenant.id,
            len(tenant.directory.users),
            cost,
            write=method in WRITE_METHODS,
            priority=headers.get("x-ms-throttle-priority", "normal"),
        )
        if refused is not None:
            raise GraphError(
                429,
                "TooManyRequests",
                "Too many requests. Please retry after the time in the Retry-After header.",
                {
                    "Retry-After": str(refused.retry_after),
                    "x-ms-throttle-scope": refused.scope,
                    "x-ms-throttle-reason": refused.reason,
                },
            )

    async def _apply_faults(self, path: str, endpoint: str, tenant_id: str) -> str | None:
        """Raise the fault that replaces the answer; return an after-apply fault kind to raise once the request is
        carried out."""
        decision = self.faults.decide(path, endpoint, tenant_id)
        if decision is None:
            return None
        if decision.kind in AFTER_APPLY:
            return decision.kind
        if decision.kind == "latency":
            await asyncio.sleep(decision.latency_ms / 1000)
        elif decision.kind == "drop":
            raise DropConnection()
        elif decision.kind == "429":
            headers = {"Retry-After": str(decision.retry_after)} if decision.retry_after is not None else {}
            raise GraphError(
                429,
                "TooManyRequests",
                "Too many requests. Please retry after the time in the Retry-After header.",
                headers,
            )
        else:
            status, code, message = SERVICE_UNAVAILABLE[decision.kind]
            raise GraphError(status, code, message)
        return None

    def _authenticate(self, headers: Mapping[str, str]) -> dict[str, Any]:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise _unauthorized("Access token is empty.")
        token = auth[7:].strip()
        claims = self._verified.get(token)
        try:
            if claims is None:
                claims = self.signer.verify(token, audience=GRAPH_AUDIENCES)  # any cloud's; the tenant's checked below
                if len(self._verified) > 2000:
                    self._verified.clear()
                self._verified[token] = claims
            elif claims["exp"] <= time.time():  # access tokens live on wall-clock time (see docs)
                raise InvalidToken("the access token has expired")
        except InvalidToken as exc:
            raise _unauthorized(f"Access token validation failure: {exc}.") from exc
        return claims


def _lose_the_answer(kind: str) -> None:
    """The request was carried out; now its answer is lost (a dropped connection or a gateway's 504)."""
    if kind == "apply_then_drop":
        raise DropConnection()
    status, code, message = SERVICE_UNAVAILABLE["504"]
    raise GraphError(status, code, message)


def _unauthorized(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        {
            "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
            'authorize", client_id="00000003-0000-0000-c000-000000000000"'
        },
    )


def route(call: GraphCall) -> GraphResult:
    s, method = call.segments, call.method
    if method == "GET" and s == ["organization"]:
        return resources.organization(call)
    if method == "GET" and s == ["domains"]:
        return resources.domains(call)
    if method == "GET" and s == ["roleManagement", "directory", "roleAssignments"]:
        return list_role_assignments(call)
    if s and s[0] == "users":
        if method == "GET" and len(s) == 1:
            return resources.list_users(call)
        if method == "GET" and s[1:] == ["delta"]:
            return handle_delta(call, "users")
        if len(s) == 2 and method == "GET":
            return resources.get_user(call, s[1])
        if len(s) == 2 and method == "PATCH":
            return resources.update_user(call, s[1])
        if method == "GET" and len(s) in (3, 4) and s[2] == "memberOf":
            return members.list_member_of(call, s[1], s[3] if len(s) == 4 else None)
        if method == "POST" and len(s) == 3 and s[2] == "checkMemberGroups":
            from emulators.entra.delegated import check_member_groups

            return check_member_groups(call, s[1])
    if s and s[0] == "groups":
        if method == "GET" and len(s) == 1:
            return resources.list_groups(call)
        if method == "GET" and s[1:] == ["delta"]:
            return handle_delta(call, "groups")
        if method == "GET" and len(s) == 2:
            return resources.get_group(call, s[1])
        if method == "GET" and len(s) in (3, 4) and s[2] in ("members", "transitiveMembers"):
            cast = s[3] if len(s) == 4 else None
            return members.list_members(call, s[1], s[2] == "transitiveMembers", cast)
    if method not in ("GET", "PATCH", "POST", "DELETE"):
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed.")
    segment = s[-1] if s else ""
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
