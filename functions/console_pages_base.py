"""The plumbing every console page shares: the session decides who may see (a Reader) and act (an Admin); POSTs
are refused (403, nothing changed) without the Admin role or without the session's CSRF token; answers are pages
with the console's security headers, a redirect after a change (POST-redirect-GET), or a typed error's page."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from functions.console_web import CSP, ConsoleUser, console_user, csrf_ok, html_response, sign_in_redirect
from shared.console.forms import Form, parse_form
from shared.console.widgets import Viewer
from shared.domain.secret_names import GUID_PATTERN
from shared.errors import ConnectorError, NotFound, ValidationError

log = logging.getLogger(__name__)
POLLING_CSP = f"{CSP}; connect-src 'self'"
# Fixed words a redirect may ask the next page to show (?done=...): never text from the request.
DONE = {
    "created": "Connection added. Next: Grant permissions (admin consent) or Test permissions.",
    "saved": "Settings saved.",
    "sync_queued": "Sync queued: it starts within a minute and its progress shows here.",
    "approved": "Deletions approved: a sync applying them is queued.",
    "deleted": "Connection deleted; its credentials were soft-deleted.",
    "purging": "Connection deleted; everything stored for it is being purged.",
    "agent_removed": "Agent removed: its requests are refused from now on; a job it held goes to another agent.",
    "ad_sync_queued": "AD sync queued: the next agent that polls takes it; its progress shows under the agents.",
    "ad_dry_run_queued": "AD dry run queued: its planned changes show in the run history when the agent answers.",
    "ad_rotation_queued": "Password rotation queued: the next agent that polls sets the new passwords.",
}


@dataclass(frozen=True)
class Page:
    html: str
    status: int = 200
    polls: bool = False  # the page's script polls a same-origin URL (the CSP then allows connect-src 'self')


@dataclass(frozen=True)
class Redirect:
    location: str


Answer = Page | Redirect
Work = Callable[[Viewer, Any, Form], Awaitable[Answer]]


def viewer_of(user: ConsoleUser) -> Viewer:
    return Viewer(name=user.name, can_act=user.can_act, csrf=user.csrf)


def actor(user: ConsoleUser) -> str:
    """Who the audit rows name: the console, the admin's object id and name (never a token or cookie)."""
    return f"console {user.oid} ({user.name})"


def refusal(viewer: Viewer | None, title: str, text: str, status: int) -> func.HttpResponse:
    from shared.console.render_results import message_page

    return html_response(message_page(viewer, title, text), status)


def message(req: func.HttpRequest) -> str:
    return DONE.get(req.params.get("done", ""), "")


async def serve(req: func.HttpRequest, where: str, work: Work, *, acts: bool = False) -> func.HttpResponse:
    """Run one page: `acts` for a POST that changes something (Admin role and CSRF token required)."""
    from shared.composition import Container
    from shared.services.audit import acting_as

    if "id" in req.route_params and not GUID_PATTERN.fullmatch(req.route_params["id"] or ""):
        return refusal(None, "Not found", "No such connection.", 404)  # nothing read, the text never echoed
    try:
        user = await console_user(req)
    except Exception as exc:  # noqa: BLE001 (the edge: storage or Key Vault down is a page, never a host 500)
        return await _failure(where, exc, None)
    if user is None:
        return sign_in_redirect(req)
    viewer = viewer_of(user)
    if not user.can_read:
        return refusal(
            None, "No access", "Your account has no console role (Connector.Admin or Connector.Reader).", 403
        )
    form = Form(())
    if acts:
        if not user.can_act:
            return refusal(viewer, "Not allowed", "Readers cannot act: this needs the Connector.Admin role.", 403)
        try:
            form = parse_form(req.get_body() or b"")
        except ValidationError:
            return refusal(viewer, "Bad form", "The form could not be read: nothing was changed.", 400)
        if not csrf_ok(user, form.single()):
            return refusal(
                viewer, "Not allowed", "The form's anti-forgery token is missing or wrong: nothing was changed.", 403
            )
    try:
        with acting_as(actor(user)):
            async with Container.from_env() as container:
                answer = await work(viewer, container, form)
    except Exception as exc:  # noqa: BLE001 (typed errors shown by their words; others recorded, never shown)
        return await _failure(where, exc, viewer)
    if isinstance(answer, Redirect):
        return html_response("", 303, {"Location": answer.location})
    return html_response(answer.html, answer.status, {"Content-Security-Policy": POLLING_CSP} if answer.polls else None)


async def _failure(where: str, exc: Exception, viewer: Viewer | None) -> func.HttpResponse:
    if isinstance(exc, NotFound):
        return refusal(viewer, "Not found", exc.message, 404)
    if isinstance(exc, ConnectorError):
        log.warning("console %s: %s %s", where, exc.code, exc.message)
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        return refusal(viewer, "Could not do that", exc.message, status)
    from shared.services import incidents

    error = await incidents.record_now(where, exc)
    return refusal(viewer, "Something went wrong", f"{error.message} Try again later.", 500)
