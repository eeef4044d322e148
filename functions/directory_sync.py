"""Directory sync triggers: on-demand sync and approval, status and run history, directory listings, the
scheduler timer and the queue worker. Each parses input and calls one function of shared.services.sync_api."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http_util import answer, flag, route_id, safe_id
from shared import storage_names as names
from shared.composition import Container

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)
WHERE = {"users": "directory_users", "groups": "directory_groups", "members": "group_members"}  # function names


def _top(req: func.HttpRequest) -> int:
    raw = req.params.get("top", "100")
    return int(raw) if raw.isdigit() else -1


@bp.function_name("sync_start")
@bp.route(route="connections/{id}/sync", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def sync_start(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services import sync_api

    async def work() -> tuple[int, object]:
        cid = route_id(req)
        async with Container.from_env() as c:
            return await sync_api.start_sync(c, cid, req.params.get("mode", "incremental"), flag(req, "dry_run"))

    return await answer(work, "sync_start", safe_id(req), req=req)


@bp.function_name("sync_approve")
@bp.route(route="connections/{id}/sync/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def sync_approve(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services import sync_api

    async def work() -> tuple[int, object]:
        cid = route_id(req)
        async with Container.from_env() as c:
            return await sync_api.approve(c, cid)

    return await answer(work, "sync_approve", safe_id(req), req=req)


@bp.function_name("sync_status")
@bp.route(route="connections/{id}/status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def sync_status(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services import sync_api

    async def work() -> tuple[int, object]:
        cid = route_id(req)
        async with Container.from_env() as c:
            return await sync_api.status(c, cid)

    return await answer(work, "sync_status", safe_id(req), req=req)


@bp.function_name("sync_runs")
@bp.route(route="connections/{id}/runs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def sync_runs(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services import sync_api

    async def work() -> tuple[int, object]:
        cid = route_id(req)
        async with Container.from_env() as c:
            return await sync_api.runs(c, cid, max(_top(req), 1))

    return await answer(work, "sync_runs", safe_id(req), req=req)


async def _listing(req: func.HttpRequest, what: str) -> func.HttpResponse:
    from shared.services import sync_api

    async def work() -> tuple[int, object]:
        cid, group_id = route_id(req), route_id(req, "groupId") if what == "members" else None
        async with Container.from_env() as c:
            return await sync_api.listing(c, cid, what, req.params.get("continuation"), _top(req), group_id)

    return await answer(work, WHERE[what], safe_id(req), req=req)


@bp.function_name("directory_users")
@bp.route(route="connections/{id}/users", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def directory_users(req: func.HttpRequest) -> func.HttpResponse:
    return await _listing(req, "users")


@bp.function_name("directory_groups")
@bp.route(route="connections/{id}/groups", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def directory_groups(req: func.HttpRequest) -> func.HttpResponse:
    return await _listing(req, "groups")


@bp.function_name("group_members")
@bp.route(route="connections/{id}/groups/{groupId}/members", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def group_members(req: func.HttpRequest) -> func.HttpResponse:
    return await _listing(req, "members")


@bp.function_name("sync_scheduler")
@bp.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
async def sync_scheduler(timer: func.TimerRequest) -> None:
    from shared.services import incidents, sync_api

    count = await incidents.run_edge("sync_scheduler", sync_api.scheduler_tick)
    log.info("sync scheduler enqueued %s job(s)", count)


@bp.function_name("sync_fanout")
@bp.queue_trigger(arg_name="msg", queue_name=names.SYNC_FANOUT, connection="AzureWebJobsStorage")
async def sync_fanout(msg: func.QueueMessage) -> None:
    """Many connections due at once: the jobs of one fan-out message (up to 100 connections) sent here."""
    from shared.services import incidents, sync_fanout

    body = msg.get_body()
    count = await incidents.run_edge("sync_fanout", lambda c: sync_fanout.run_fanout(c, body))
    log.info("sync fan-out %s: %s job(s) sent", msg.id, count)


@bp.function_name("sync_worker")
@bp.queue_trigger(arg_name="msg", queue_name=names.SYNC_JOBS, connection="AzureWebJobsStorage")
async def sync_worker(msg: func.QueueMessage) -> None:
    from shared.services import incidents, sync_api

    body = msg.get_body()
    result = await incidents.run_edge("sync_worker", lambda c: sync_api.worker(c, body))
    log.info("sync job %s: %s", msg.id, result.outcome if result else "skipped or failed (recorded)")
