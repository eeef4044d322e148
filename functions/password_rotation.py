"""Password rotation triggers: rotate a connection or one user on demand, the hourly enqueue, the queue worker."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import azure.functions as func

from functions.http_util import answer, flag, route_id, safe_id
from shared import storage_names as names
from shared.composition import Container
from shared.errors import ValidationError

if TYPE_CHECKING:
    from shared.domain.rotation import RotationReport

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)


async def _rotate(where: str, req: func.HttpRequest, *, all: bool = False, user: bool = False) -> func.HttpResponse:
    from shared.services.rotation_admin import rotate_now  # lazy: SDKs load per invocation, not at indexing

    async def work() -> tuple[int, object]:
        connection_id, user_id = route_id(req), route_id(req, "userId") if user else None
        async with Container.from_env() as container:
            report = await rotate_now(container, connection_id, all=all, user_id=user_id)
        return 200, report.to_dict()

    return await answer(work, where, safe_id(req), req=req)


@bp.function_name("rotate_connection")
@bp.route(route="connections/{id}/rotate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def rotate_connection(req: func.HttpRequest) -> func.HttpResponse:
    return await _rotate("rotate_connection", req, all=flag(req, "all"))


@bp.function_name("rotate_user")
@bp.route(route="connections/{id}/users/{userId}/rotate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def rotate_user(req: func.HttpRequest) -> func.HttpResponse:
    return await _rotate("rotate_user", req, user=True)


@bp.function_name("rotation_status")
@bp.route(route="connections/{id}/rotation", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def rotation_status(req: func.HttpRequest) -> func.HttpResponse:
    """Per user: last rotated, next due, last outcome or skip reason, pending; never a password."""
    from shared.services.rotation_admin import user_status

    async def work() -> tuple[int, object]:
        cid, top = route_id(req), req.params.get("top", "100")
        async with Container.from_env() as container:
            size = int(top) if top.isdigit() else -1
            return 200, await user_status(container, cid, size, req.params.get("continuation"))

    return await answer(work, "rotation_status", safe_id(req), req=req)


@bp.function_name("rotation_timer")
@bp.timer_trigger(schedule="0 17 * * * *", arg_name="timer", run_on_startup=False)
async def rotation_timer(timer: func.TimerRequest) -> None:
    from shared.services import incidents
    from shared.services import password_rotation as rotation

    count = await incidents.run_edge("rotation_timer", rotation.enqueue_rotation_jobs)
    log.info("rotation timer enqueued %s connection(s)", count)


@bp.function_name("rotation_worker")
@bp.queue_trigger(arg_name="msg", queue_name=names.ROTATION_JOBS, connection="AzureWebJobsStorage")
async def rotation_worker(msg: func.QueueMessage) -> None:
    """A failed job is recorded on the connection and the message is done: the hourly timer queues the next one
    and rotation resumes where it stopped (two-phase), so host retries would only repeat the failure."""
    from shared.services import incidents
    from shared.services import password_rotation as rotation

    connection_id = incidents.connection_id_in(msg.get_body())

    async def work(container: Container) -> RotationReport | None:
        if connection_id is None:
            raise ValidationError({"connection_id": "a rotation job message needs a connection_id"})
        return await rotation.run_rotation_job(container, connection_id)

    report = await incidents.run_edge("rotation_worker", work, connection_id=connection_id)
    outcome = json.dumps(report.to_dict()) if report else "ignored, or failed (recorded)"
    log.info("rotation job for connection %s: %s", connection_id, outcome)
