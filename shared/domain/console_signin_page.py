"""The small HTML pages of the console's sign-in (signed in, refused, signed out): no script, no inline style,
every value escaped; a page that continues somewhere does so by a meta refresh and a plain link."""

from __future__ import annotations

from html import escape

STYLESHEET = "/api/console/static/console.css"


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
        f'{refresh}<title>{escape(title)}</title><link rel="stylesheet" href="{STYLESHEET}"></head>'
        f'<body><main><h1>{escape(title)}</h1><p id="message">{escape(message)}</p>{lines}{go}{again}</main>'
        "</body></html>"
    )
