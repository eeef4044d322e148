"""The small HTML page the consent callback shows: no JavaScript, every value escaped."""

from __future__ import annotations

from html import escape
from typing import Any

ICONS = {"pass": "✔", "warn": "⚠", "fail": "✖"}


def render_page(
    title: str, message: str, checks: list[dict[str, Any]] | None = None, details: list[str] | None = None
) -> str:
    rows = "".join(
        f"<tr><td>{escape(ICONS.get(str(c['status']), '?'))} {escape(str(c['status']))}</td>"
        f"<td>{escape(str(c['name']))}</td><td>{escape(str(c['detail']))}</td><td>{escape(str(c['remedy']))}</td></tr>"
        for c in checks or []
    )
    table = (
        f"<table><thead><tr><th>Result</th><th>Check</th><th>Detail</th><th>What to do</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if rows
        else ""
    )
    extra = "".join(f"<p>{escape(line)}</p>" for line in details or [] if line)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.3em;text-align:left;"
        "border-bottom:1px solid #ddd}</style></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(message)}</p>{extra}{table}</body></html>"
    )
