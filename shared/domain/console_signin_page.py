"""The small HTML pages of the console's sign-in (signed in, refused, signed out): no script, no inline style,
every value escaped; a page that continues somewhere does so by a meta refresh and a plain link."""

from __future__ import annotations

from html import escape

FAVICON_PATH = "/api/console/favicon.svg"
# Every console page names its icon (served by functions/console_auth.py), so no browser asks for /favicon.ico,
# which the Functions host does not serve (a 404 in the console).
ICON = f'<link rel="icon" type="image/svg+xml" href="{FAVICON_PATH}">'
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0f6cbd"/>'
    '<path d="M4 8h8M8 4v8" stroke="#fff" stroke-width="2"/></svg>'
)


def render_signin_page(
    title: str, message: str, details: tuple[str, ...] = (), *, continue_to: str | None = None, link: str | None = None
) -> str:
    """`continue_to`: a local path (already checked safe) the browser goes on to at once; `link`: a local path
    offered as "Sign in again"."""
    refresh = f'<meta http-equiv="refresh" content="0;url={escape(continue_to)}">' if continue_to else ""
    lines = "".join(f"<p>{escape(line)}</p>" for line in details if line)
    go = f'<p><a id="continue" href="{escape(continue_to)}">Continue</a></p>' if continue_to else ""
    again = f'<p><a id="signin" href="{escape(link)}">Sign in</a></p>' if link else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"{ICON}{refresh}<title>{escape(title)}</title></head>"
        f'<body><main><h1>{escape(title)}</h1><p id="message">{escape(message)}</p>{lines}{go}{again}</main>'
        "</body></html>"
    )


def render_account_page(name: str, roles: list[str], can_act: bool, csrf: str) -> str:
    """The signed-in account: its name (as text), app roles, what they allow, and the sign-out form (CSRF token)."""
    allowed = "read and act (connect tenants, sync, approve)" if can_act else "read only"
    items = "".join(f"<li>{escape(role)}</li>" for role in roles)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Your console account</title>'
        f"{ICON}</head><body><main><h1>Your console account</h1>"
        f'<p>Signed in as <strong id="name">{escape(name)}</strong>.</p><ul id="roles">{items}</ul>'
        f'<p id="allowed">You may {allowed}.</p>'
        '<form method="post" action="/api/console/signout">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}"><button id="signout" type="submit">Sign out</button>'
        "</form></main></body></html>"
    )
