"""Connections: create, list, show, update, delete and verify over HTTP (function key required), and the queue
worker that purges a connection (DELETE ...?purge=true queues it)."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from functions.http_util import answer, json_body, route_id, safe_id
from shared import storage_names as names

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)


@bp.function_name("connections_create")
@bp.route(route="connections", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def create(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.connections import create_connection

    async def work() -> tuple[int, object]:
        body = json_body(req)
        async with Container.from_env() as container:
            return 201, await create_connection(container, body)

    return await answer(work, "connections_create", req=req)


@bp.function_name("connections_list")
@bp.route(route="connections", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def list_all(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.connections import list_connections_page, page_size

    async def work() -> tuple[int, object]:
        top = page_size(req.params.get("top"))
        async with Container.from_env() as container:
            return 200, await list_connections_page(container, top=top, continuation=req.params.get("continuation"))

    return await answer(work, "connections_list", req=req)


@bp.function_name("connections_get")
@bp.route(route="connections/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def show(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.connections import get_connection

    async def work() -> tuple[int, object]:
        async with Container.from_env() as container:
            return 200, await get_connection(container, route_id(req))

    return await answer(work, "connections_get", safe_id(req), req=req)


@bp.function_name("connections_update")
@bp.route(route="connections/{id}", methods=["PATCH"], auth_level=func.AuthLevel.FUNCTION)
async def update(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.connections import update_connection

    async def work() -> tuple[int, object]:
        cid, body = route_id(req), json_body(req)
        async with Container.from_env() as container:
            return 200, await update_connection(container, cid, body)

    return await answer(work, "connections_update", safe_id(req), req=req)


@bp.function_name("connections_delete")
@bp.route(route="connections/{id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
async def delete(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.errors import ValidationError
    from shared.services.connections import delete_connection

    async def work() -> tuple[int, object]:
        cid = route_id(req)
        purge_raw = (req.params.get("purge") or "false").lower()
        if purge_raw not in ("true", "false"):
            raise ValidationError({"purge": "must be true or false"})
        async with Container.from_env() as container:
            return await delete_connection(container, cid, purge_raw == "true")

    return await answer(work, "connections_delete", safe_id(req), req=req)


@bp.function_name("purge_worker")
@bp.queue_trigger(arg_name="msg", queue_name=names.PURGE_JOBS, connection="AzureWebJobsStorage")
async def purge_worker(msg: func.QueueMessage) -> None:
    from shared.composition import Container
    from shared.services.connection_purge import run_purge_job

    async with Container.from_env() as container:
        progress = await run_purge_job(container, json.loads(msg.get_body()))
    log.info("purge job %s: %s", msg.id, progress.phase if progress else "nothing to purge")


@bp.function_name("connections_verify")
@bp.route(route="connections/{id}/verify", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def verify(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.verification import verify_connection

    async def work() -> tuple[int, object]:
        async with Container.from_env() as container:
            return 200, (await verify_connection(container, route_id(req))).to_dict()

    return await answer(work, "connections_verify", safe_id(req), req=req)
