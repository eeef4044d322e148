"""Form widgets of the console: the viewer (who is looking, may they act, their CSRF token), forms that carry the
token, labelled fields with their error next to them. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.console.html import Child, Markup, h

CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Viewer:
    """The signed-in admin as the pages need them: a name to show, whether they may act, the CSRF token for forms."""

    name: str
    can_act: bool
    csrf: str = field(repr=False)

    @property
    def role(self) -> str:
        return "Admin" if self.can_act else "Reader"


def post_form(viewer: Viewer, action: str, *children: Child, cls: str = "") -> Markup:
    """A POST form with the viewer's CSRF token; nothing at all for a Reader (no action they cannot take)."""
    if not viewer.can_act:
        return Markup("")
    token = h("input", {"type": "hidden", "name": CSRF_FIELD, "value": viewer.csrf})
    return h("form", {"method": "post", "action": action, "class": cls or None}, token, *children)


def button(text: str, name: str | None = None, value: str | None = None, tone: str = "") -> Markup:
    return h("button", {"type": "submit", "name": name, "value": value, "class": tone or None}, text)


def error_of(errors: Mapping[str, str], name: str) -> Markup:
    problem = errors.get(name)
    return h("span", {"class": "error", "id": f"{name}-error"}, problem) if problem else Markup("")


def labelled(label: str, name: str, control: Markup, errors: Mapping[str, str], hint: str = "") -> Markup:
    return h(
        "div",
        {"class": "field invalid" if name in errors else "field"},
        h("label", {"for": name}, label),
        control,
        h("small", {}, hint) if hint else "",
        error_of(errors, name),
    )


def text_input(
    name: str, value: object = "", *, kind: str = "text", errors: Mapping[str, str] | None = None, **extra: str | bool
) -> Markup:
    described = f"{name}-error" if errors and name in errors else None
    attrs: dict[str, str | int | bool | None] = {
        "type": kind,
        "id": name,
        "name": name,
        "value": "" if value is None else str(value),
        "aria-invalid": "true" if described else None,
        "aria-describedby": described,
    }
    attrs.update(extra)
    return h("input", attrs)


def select(name: str, options: Iterable[tuple[str, str]], chosen: str | None) -> Markup:
    return h(
        "select",
        {"id": name, "name": name},
        [h("option", {"value": value, "selected": value == chosen}, text) for value, text in options],
    )


def checkbox(name: str, label: str, checked: bool, value: str = "on", *, required: bool = False) -> Markup:
    return h(
        "label",
        {"class": "check"},
        h("input", {"type": "checkbox", "name": name, "value": value, "checked": checked, "required": required}),
        " ",
        label,
    )


def problems_summary(errors: Mapping[str, str]) -> Markup:
    if not errors:
        return Markup("")
    items = [h("li", {}, h("code", {}, name), ": ", problem) for name, problem in sorted(errors.items())]
    return h(
        "div",
        {"class": "notice bad", "role": "alert"},
        h("p", {}, "Nothing was changed. Fix the fields below:"),
        h("ul", {}, items),
    )
