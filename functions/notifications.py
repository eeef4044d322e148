"""Graph change notifications: the notification and lifecycle endpoints (validation handshake; checked
notifications answered 202 having only enqueued) and the hourly subscription renewal timer."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http_util import answer, route_id, safe_id
from shared.domain.notifications import MAX_VALIDATION_TOKEN

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)


def _handshake(req: func.HttpRequest) -> func.HttpResponse | None:
    """Graph's validation request: the token back, plain text, 200, at once, touching nothing (Learn:
    change-notifications-delivery-webhooks, notificationUrl validation)."""
    token = req.params.get("validationToken")
    if token is None:
        return None
    if len(token) > MAX_VALIDATION_TOKEN:
        return func.HttpResponse("validationToken too long", status_code=400, mimetype="text/plain")
    return func.HttpResponse(
        token, status_code=200, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


async def _receive(req: func.HttpRequest, where: str) -> func.HttpResponse:
    handshake = _handshake(req)
    if handshake is not None:
        return handshake
    from shared.composition import Container
    from shared.services.subscriptions_runs import receive

    async def work() -> tuple[int, object]:
        cid = route_id(req)
        async with Container.from_env() as container:
            return await receive(container, cid, req.get_body())

    return await answer(work, where, safe_id(req), req=req)


@bp.function_name("notifications")
@bp.route(route="notifications/{id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def notifications(req: func.HttpRequest) -> func.HttpResponse:
    return await _receive(req, "notifications")


@bp.function_name("notifications_lifecycle")
@bp.route(route="notifications/{id}/lifecycle", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def notifications_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    return await _receive(req, "notifications_lifecycle")


@bp.function_name("subscription_renewal")
@bp.timer_trigger(schedule="0 40 * * * *", arg_name="timer", run_on_startup=False)
async def subscription_renewal(timer: func.TimerRequest) -> None:
    from shared.services import incidents, subscriptions

    count = await incidents.run_edge("subscription_renewal", subscriptions.renew_all)
    log.info("subscription renewal: %s connection(s) checked", count)
