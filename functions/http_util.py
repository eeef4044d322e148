"""Shared HTTP plumbing for the triggers: JSON bodies in (bounded, strict), JSON or typed errors out."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from shared.domain.secret_names import GUID_PATTERN
from shared.errors import ConnectorError, NotFound, ValidationError

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
ROUTE_WHAT = {"id": "connection", "userId": "user", "groupId": "group"}


def route_id(req: func.HttpRequest, name: str = "id") -> str:
    """A GUID route parameter, lower-cased; NotFound (naming what, never echoing the text) for anything else, before
    any storage is touched: connection, user and group ids are GUIDs, so nothing else can exist."""
    raw = req.route_params.get(name) or ""
    if not GUID_PATTERN.fullmatch(raw):
        raise NotFound(f"No such {ROUTE_WHAT.get(name, name)}")
    return raw.lower()


def safe_id(req: func.HttpRequest, name: str = "id") -> str | None:
    """The route's connection id for incident records, or None when it is not a GUID."""
    raw = req.route_params.get(name) or ""
    return raw.lower() if GUID_PATTERN.fullmatch(raw) else None


def json_body(req: func.HttpRequest) -> Any:
    """The parsed JSON body; ValidationError for empty, oversized, non-UTF-8 or malformed bodies."""
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError({"body": f"must be at most {MAX_BODY_BYTES} bytes"})
    if not raw.strip():
        raise ValidationError({"body": "a JSON object is required"})
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except _DuplicateKey:
        raise ValidationError({"body": "must not repeat a key within one JSON object"}) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValidationError({"body": "must be valid UTF-8 JSON"}) from None


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects with a repeated key are refused: parsers disagree on which value wins (RFC 8259, 4)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _DuplicateKey
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def respond(data: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data, default=str), status_code=status, mimetype="application/json")


def cookies_of(header: str | None) -> dict[str, str]:
    """The request's cookies by name (a malformed Cookie header: none)."""
    from http.cookies import CookieError, SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load((header or "")[:4096])
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def flag(req: func.HttpRequest, name: str) -> bool:
    return req.params.get(name, "").strip().lower() in ("1", "true", "yes")


def who(req: func.HttpRequest, kind: str = "function-key") -> str:
    """Who made the call, for the audit trail: the way it was authorised and the client address from
    X-Forwarded-For when that holds an IP address. The function key's name is not visible to the worker (the host
    checks the key), and its value never leaves the host."""
    first = (req.headers.get("X-Forwarded-For") or "").split(",")[0].strip()
    if first.startswith("[") and "]" in first:  # [v6]:port
        first = first[1 : first.index("]")]
    elif first.count(":") == 1:  # v4:port
        first = first.split(":")[0]
    try:
        return f"{kind} from {ipaddress.ip_address(first)}"
    except ValueError:
        return kind


async def answer(
    work: Callable[[], Awaitable[tuple[int, Any]]],
    where: str = "http",
    connection_id: str | None = None,
    req: func.HttpRequest | None = None,
) -> func.HttpResponse:
    """Run a service call returning (status, body); a ConnectorError becomes its typed error response, anything
    else a 500 internal_error that is logged and recorded on the connection (its message is never shown). Audit
    rows written meanwhile name the caller (`who`)."""
    from shared.services.audit import acting_as

    with acting_as(who(req) if req is not None else "function-key"):
        return await _answer(work, where, connection_id)


async def _answer(
    work: Callable[[], Awaitable[tuple[int, Any]]], where: str, connection_id: str | None
) -> func.HttpResponse:
    try:
        status, body = await work()
    except ConnectorError as exc:
        return error_response(exc)
    except Exception as exc:  # noqa: BLE001 (the edge: recorded and answered, never a bare host 500)
        return await internal_response(where, exc, connection_id)
    return respond(body, status)


async def internal_response(where: str, exc: Exception, connection_id: str | None = None) -> func.HttpResponse:
    from shared.services import incidents

    error = await incidents.record_now(where, exc, connection_id=connection_id)
    return respond(error.to_dict(), 500)


def error_response(exc: ConnectorError) -> func.HttpResponse:
    status = exc.http_status if exc.http_status < 500 or exc.http_status in (502, 503) else 500
    log.warning("request failed: %s %s", exc.code, exc.message)
    return respond(exc.to_dict(), status)


async def html_failure(where: str, exc: Exception, headers: dict[str, str]) -> func.HttpResponse:
    """The page of a browser-facing function that failed: a typed error's words, or an unexpected one recorded
    (shared/services/incidents.py) and never shown."""
    from shared.domain.consent_page import render_page

    if isinstance(exc, ConnectorError):
        page = render_page("Something went wrong", f"{exc.message} Try again later.")
        return func.HttpResponse(page, status_code=min(exc.http_status, 503), mimetype="text/html", headers=headers)
    from shared.services import incidents

    error = await incidents.record_now(where, exc)
    page = render_page("Something went wrong", f"{error.message} Try again later.")
    return func.HttpResponse(page, status_code=500, mimetype="text/html", headers=headers)
