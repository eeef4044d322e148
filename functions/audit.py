"""Audit trail API: GET /api/connections/{id}/audit and GET /api/audit (function key), paged, newest first."""

from __future__ import annotations

import azure.functions as func

from functions.http_util import answer, route_id, safe_id

bp = func.Blueprint()  # type: ignore[no-untyped-call]


async def _page(req: func.HttpRequest, where: str, *, per_connection: bool) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services import audit

    async def work() -> tuple[int, object]:
        connection_id = route_id(req) if per_connection else None
        top = audit.page_size(req.params.get("top"))
        async with Container.from_env() as container:
            return 200, await audit.page(container.tables(), connection_id, top, req.params.get("continuation"))

    return await answer(work, where, safe_id(req) if per_connection else None, req=req)


@bp.function_name("connection_audit")
@bp.route(route="connections/{id}/audit", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def connection_audit(req: func.HttpRequest) -> func.HttpResponse:
    """A connection's trail; it outlives the connection, so a deleted connection's id still answers."""
    return await _page(req, "connection_audit", per_connection=True)


@bp.function_name("audit_all")
@bp.route(route="audit", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def audit_all(req: func.HttpRequest) -> func.HttpResponse:
    """Every connection's actions and those of the deployment (incidents without a connection), newest first."""
    return await _page(req, "audit_all", per_connection=False)
