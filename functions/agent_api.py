"""The on-prem agent's API. Operators (function key): registration codes, the agents' status, removal. Agents
(anonymous at the host, authenticated by each agent's Ed25519 signature in the service; docs/ad-agent.md says why
not function keys): register with a one-time code, poll (long-poll) for jobs, heartbeat, post results."""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.functions as func

from functions.http_util import answer, flag, json_body, route_id, safe_id

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.function_name("agent_codes_create")
@bp.route(route="connections/{id}/agents/codes", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def create_code(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.agent_registry import create_code

    async def work() -> tuple[int, object]:
        connection_id = route_id(req)
        body = json_body(req) if (req.get_body() or b"").strip() else None
        async with Container.from_env() as container:
            return await create_code(container, connection_id, body)

    return await answer(work, "agent_codes_create", safe_id(req), req=req)


@bp.function_name("agents_list")
@bp.route(route="connections/{id}/agents", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def list_agents(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.agent_registry import list_agents

    async def work() -> tuple[int, object]:
        connection_id = route_id(req)
        async with Container.from_env() as container:
            return await list_agents(container, connection_id)

    return await answer(work, "agents_list", safe_id(req), req=req)


@bp.function_name("agents_remove")
@bp.route(route="connections/{id}/agents/{agentId}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
async def remove_agent(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.agent_registry import remove_agent

    async def work() -> tuple[int, object]:
        connection_id = route_id(req)
        async with Container.from_env() as container:
            return await remove_agent(container, connection_id, (req.route_params.get("agentId") or "").lower())

    return await answer(work, "agents_remove", safe_id(req), req=req)


@bp.function_name("ad_sync_start")
@bp.route(route="connections/{id}/agents/sync", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def ad_sync_start(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.ad_sync import start_ad_sync

    async def work() -> tuple[int, object]:
        connection_id = route_id(req)
        mode, dry_run = req.params.get("mode", "incremental"), flag(req, "dry_run")
        async with Container.from_env() as container:
            return await start_ad_sync(container, connection_id, mode, dry_run)

    return await answer(work, "ad_sync_start", safe_id(req), req=req)


@bp.function_name("ad_rotate_start")
@bp.route(route="connections/{id}/agents/rotate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def ad_rotate_start(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.ad_rotation import start_ad_rotation

    async def work() -> tuple[int, object]:
        connection_id = route_id(req)
        body = json_body(req) if (req.get_body() or b"").strip() else {}
        users = _user_ids(body)
        async with Container.from_env() as container:
            return await start_ad_rotation(container, connection_id, users)

    return await answer(work, "ad_rotate_start", safe_id(req), req=req)


def _user_ids(body: object) -> list[str] | None:
    from shared.domain.secret_names import GUID_PATTERN
    from shared.errors import ValidationError

    if not isinstance(body, dict) or set(body) - {"users"}:
        raise ValidationError({"body": "must be an object with at most `users`"})
    users = body.get("users")
    if users is None:
        return None
    if not isinstance(users, list) or not all(isinstance(u, str) and GUID_PATTERN.fullmatch(u) for u in users):
        raise ValidationError({"users": "must be a list of user ids (objectGUIDs)"})
    return list(users)


@bp.function_name("agent_register")
@bp.route(route="agent/register", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def register(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.agent_registry import register

    async def work() -> tuple[int, object]:
        body = json_body(req)
        async with Container.from_env() as container:
            return await register(container, body)

    return await answer(work, "agent_register", req=req)


def _signed(req: func.HttpRequest) -> object:
    from shared.services.agent_api import SignedRequest

    parts = urlsplit(req.url)
    return SignedRequest(
        method=req.method,
        path=parts.path + (f"?{parts.query}" if parts.query else ""),
        headers=dict(req.headers.items()),
        body=req.get_body() or b"",
        route=dict(req.route_params),
        params=dict(req.params),
    )


async def _agent_call(req: func.HttpRequest, name: str) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services import agent_api

    async def work() -> tuple[int, object]:
        async with Container.from_env() as container:
            return await getattr(agent_api, name)(container, _signed(req))  # type: ignore[no-any-return]

    response = await answer(work, f"agent_{name}", req=req)
    if response.status_code == 204:
        return func.HttpResponse(status_code=204)
    return response


@bp.function_name("agent_poll")
@bp.route(route="agent/poll", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def poll(req: func.HttpRequest) -> func.HttpResponse:
    return await _agent_call(req, "poll")


@bp.function_name("agent_heartbeat")
@bp.route(route="agent/jobs/{jobId}/heartbeat", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def heartbeat(req: func.HttpRequest) -> func.HttpResponse:
    return await _agent_call(req, "heartbeat")


@bp.function_name("agent_result")
@bp.route(route="agent/jobs/{jobId}/result", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def result(req: func.HttpRequest) -> func.HttpResponse:
    return await _agent_call(req, "complete")


@bp.function_name("agent_result_part")
@bp.route(route="agent/jobs/{jobId}/result/parts/{n}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def result_part(req: func.HttpRequest) -> func.HttpResponse:
    return await _agent_call(req, "put_part")
