"""Password rotation triggers: rotate a connection or one user on demand, the hourly enqueue, the queue worker."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from functions.http_util import error_response, flag, respond
from shared import storage_names as names
from shared.composition import Container
from shared.errors import ConnectorError

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)


async def _rotate(connection_id: str, *, all: bool = False, user_id: str | None = None) -> func.HttpResponse:
    from shared.services import password_rotation as rotation  # lazy: SDKs load per invocation, not at indexing

    try:
        async with Container.from_env() as container:
            report = await rotation.run_rotation(container, connection_id, all=all, user_id=user_id)
    except ConnectorError as exc:
        return error_response(exc)
    return respond(report.to_dict())


@bp.function_name("rotate_connection")
@bp.route(route="connections/{id}/rotate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def rotate_connection(req: func.HttpRequest) -> func.HttpResponse:
    everyone = flag(req, "all")
    return await _rotate(req.route_params["id"], all=everyone)


@bp.function_name("rotate_user")
@bp.route(route="connections/{id}/users/{userId}/rotate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def rotate_user(req: func.HttpRequest) -> func.HttpResponse:
    return await _rotate(req.route_params["id"], user_id=req.route_params["userId"])


@bp.function_name("rotation_timer")
@bp.timer_trigger(schedule="0 17 * * * *", arg_name="timer", run_on_startup=False)
async def rotation_timer(timer: func.TimerRequest) -> None:
    from shared.services import password_rotation as rotation

    async with Container.from_env() as container:
        count = await rotation.enqueue_rotation_jobs(container)
    log.info("rotation timer enqueued %d connection(s)", count)


@bp.function_name("rotation_worker")
@bp.queue_trigger(arg_name="msg", queue_name=names.ROTATION_JOBS, connection="AzureWebJobsStorage")
async def rotation_worker(msg: func.QueueMessage) -> None:
    from shared.services import password_rotation as rotation

    connection_id = str(json.loads(msg.get_body())["connection_id"])
    async with Container.from_env() as container:
        report = await rotation.run_rotation_job(container, connection_id)
    outcome = json.dumps(report.to_dict()) if report else "ignored: rotation is off"
    log.info("rotation job for connection %s: %s", connection_id, outcome)
