"""A tiny HTML builder for the console: every value is escaped as text, every attribute quoted; only the code's own
literal tag and attribute names are allowed. `Markup` marks HTML this module built (never a value from outside)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Protocol, TypeAlias

FAVICON_PATH = "/api/console/favicon.svg"  # functions/console_auth.py serves it (no /favicon.ico 404)
NAME = re.compile(r"^[a-z][a-z0-9-]*$")
VOID = frozenset({"br", "hr", "img", "input", "link", "meta"})
STATIC = "/api/console/static"


class Markup(str):
    """HTML built by this module; a plain str is always text and is escaped."""

    __slots__ = ()


Child: TypeAlias = "str | Markup | int | Iterable[Child] | None"
AttrValue = str | int | bool | None


def esc(value: object) -> Markup:
    return Markup(html.escape(str(value), quote=True))


def render(child: Child) -> Markup:
    if child is None or child is False:
        return Markup("")
    if isinstance(child, Markup):
        return child
    if isinstance(child, str | int):
        return esc(child)
    return Markup("".join(render(c) for c in child))


def attrs_of(attrs: Mapping[str, AttrValue]) -> str:
    out = []
    for key, value in attrs.items():
        name = key.rstrip("_").replace("_", "-")
        if not NAME.match(name):
            raise ValueError(f"bad attribute name {name!r}")
        if value is None or value is False:
            continue
        out.append(f" {name}" if value is True else f' {name}="{html.escape(str(value), quote=True)}"')
    return "".join(out)


def h(tag: str, attrs: Mapping[str, AttrValue] | None = None, *children: Child) -> Markup:
    """<tag attrs>children</tag>; children are escaped unless they are Markup."""
    if not NAME.match(tag):
        raise ValueError(f"bad tag {tag!r}")
    opening = f"<{tag}{attrs_of(attrs or {})}>"
    if tag in VOID:
        return Markup(opening)
    return Markup(f"{opening}{render(children)}</{tag}>")


class SignedIn(Protocol):
    """Who the header names, and the token of their sign-out form."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def csrf(self) -> str: ...


SIGNOUT = "/api/console/signout"


def signed_in(viewer: SignedIn | None) -> Markup:
    if viewer is None:
        return Markup("")
    token = h("input", {"type": "hidden", "name": "csrf", "value": viewer.csrf})
    signout = h(
        "form",
        {"method": "post", "action": SIGNOUT, "class": "signout"},
        token,
        h("button", {"type": "submit"}, "Sign out"),
    )
    return h("span", {"class": "who"}, viewer.name, f" ({viewer.role})", signout)


def layout(title: str, body: Child, *, viewer: SignedIn | None = None) -> Markup:
    """The one layout: header with the signed-in admin and their sign-out, navigation, the page; CSS and JS from the
    app only."""
    who = signed_in(viewer)
    nav = h(
        "nav",
        {},
        h("a", {"href": "/api/console"}, "Connections"),
        h("a", {"href": "/api/console/new"}, "Add connection"),
        h("a", {"href": "/api/console/audit"}, "Audit log"),
        who,
    )
    return Markup(
        "<!DOCTYPE html>"
        + h(
            "html",
            {"lang": "en"},
            h(
                "head",
                {},
                h("meta", {"charset": "utf-8"}),
                h("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
                h("title", {}, f"{title} · Entra ID connector"),
                h("link", {"rel": "stylesheet", "href": f"{STATIC}/console.css"}),
                h("link", {"rel": "icon", "href": FAVICON_PATH, "type": "image/svg+xml"}),
                h("script", {"src": f"{STATIC}/console.js", "defer": True}),
            ),
            h(
                "body",
                {},
                h("header", {}, h("strong", {}, "Entra ID connector"), nav),
                h("main", {}, h("h1", {}, title), body),
            ),
        )
    )


def table(
    headers: Iterable[str], rows: Iterable[Iterable[Child]], *, empty: str = "Nothing yet.", cls: str = ""
) -> Markup:
    head = h("tr", {}, [h("th", {"scope": "col"}, name) for name in headers])
    body = [h("tr", {}, [h("td", {}, cell) for cell in row]) for row in rows]
    if not body:
        return h("p", {"class": "empty"}, empty)
    return h("table", {"class": cls or None}, h("thead", {}, head), h("tbody", {}, body))


def badge(text: str, tone: str) -> Markup:
    """A coloured state word; tone is one of ok, warn, bad, info, idle (CSS classes)."""
    return h("span", {"class": f"badge {tone}"}, text)


def notice(text: Child, tone: str = "info") -> Markup:
    return h("p", {"class": f"notice {tone}", "role": "status"}, text)
