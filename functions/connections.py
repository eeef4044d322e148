"""Connections: create, list, show, update, delete and verify over HTTP (function key required), and the queue
worker that purges a connection (DELETE ...?purge=true queues it)."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from functions.http_util import answer, json_body
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

    return await answer(work, "connections_create")


@bp.function_name("connections_list")
@bp.route(route="connections", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def list_all(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.connections import list_connections

    async def work() -> tuple[int, object]:
        async with Container.from_env() as container:
            return 200, {"value": await list_connections(container)}

    return await answer(work, "connections_list")


@bp.function_name("connections_get")
@bp.route(route="connections/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def show(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.connections import get_connection

    cid = req.route_params.get("id", "")

    async def work() -> tuple[int, object]:
        async with Container.from_env() as container:
            return 200, await get_connection(container, cid)

    return await answer(work, "connections_get", cid)


@bp.function_name("connections_update")
@bp.route(route="connections/{id}", methods=["PATCH"], auth_level=func.AuthLevel.FUNCTION)
async def update(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.connections import update_connection

    cid = req.route_params.get("id", "")

    async def work() -> tuple[int, object]:
        body = json_body(req)
        async with Container.from_env() as container:
            return 200, await update_connection(container, cid, body)

    return await answer(work, "connections_update", cid)


@bp.function_name("connections_delete")
@bp.route(route="connections/{id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
async def delete(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.errors import ValidationError
    from shared.services.connections import delete_connection

    cid = req.route_params.get("id", "")

    async def work() -> tuple[int, object]:
        purge_raw = (req.params.get("purge") or "false").lower()
        if purge_raw not in ("true", "false"):
            raise ValidationError({"purge": "must be true or false"})
        async with Container.from_env() as container:
            return await delete_connection(container, cid, purge_raw == "true")

    return await answer(work, "connections_delete", cid)


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

    cid = req.route_params.get("id", "")

    async def work() -> tuple[int, object]:
        async with Container.from_env() as container:
            return 200, (await verify_connection(container, cid)).to_dict()

    return await answer(work, "connections_verify", cid)
