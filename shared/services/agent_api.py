"""The agent-facing API's service calls: each authenticates the signed request first (shared/services/agent_auth.py)
and then polls, heartbeats or completes a job for that agent; registration is authenticated by its one-time code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.errors import ValidationError
from shared.services import agent_jobs
from shared.services.agent_auth import authenticate

MAX_AGENT_BODY = 64 * 1024
MAX_RESULT_BODY = 8 * 1024 * 1024  # one result body; larger answers come in parts (shared/services/agent_parts.py)


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str  # path and query string, as the agent signed them
    headers: dict[str, str]
    body: bytes
    route: dict[str, str]
    params: dict[str, str]

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValidationError({"body": "must be valid UTF-8 JSON"}) from None


async def _agent(container: Any, request: SignedRequest, limit: int = MAX_AGENT_BODY) -> dict[str, Any]:
    if len(request.body) > limit:  # checked before the signature: nothing large is hashed
        raise ValidationError({"body": f"must be at most {limit} bytes"})
    return await authenticate(container, request.method, request.path, request.headers, request.body)


async def poll(container: Any, request: SignedRequest) -> tuple[int, Any]:
    agent = await _agent(container, request)
    raw = request.params.get("wait", "0")
    if not raw.isdigit():
        raise ValidationError({"wait": "must be whole seconds"})
    return await agent_jobs.poll(container, agent, int(raw))


async def heartbeat(container: Any, request: SignedRequest) -> tuple[int, Any]:
    agent = await _agent(container, request)
    return await agent_jobs.heartbeat(container, agent, request.route.get("jobId", ""))


async def complete(container: Any, request: SignedRequest) -> tuple[int, Any]:
    agent = await _agent(container, request, MAX_RESULT_BODY)
    return await agent_jobs.complete(container, agent, request.route.get("jobId", ""), request.json())


async def put_part(container: Any, request: SignedRequest) -> tuple[int, Any]:
    from shared.services.agent_parts import MAX_PART_BYTES

    agent = await _agent(container, request, MAX_PART_BYTES)
    route = request.route
    return await agent_jobs.put_part(container, agent, route.get("jobId", ""), route.get("n", ""), request.body)
