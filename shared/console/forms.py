"""Console forms in, service bodies out (pure): a urlencoded body parsed with limits, and the create and settings
forms turned into the same JSON-shaped bodies the HTTP API takes, so the services' own parsers judge every value
(and name the field). Only what a form cannot say in the API's terms is checked here (e.g. a user-defaults line)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from shared.errors import ValidationError

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 200


@dataclass(frozen=True)
class Form:
    """A parsed form: every value of every field, in order."""

    fields: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.fields:
            if key == name:
                return value
        return default

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.fields)

    def single(self) -> dict[str, str]:
        """The first value of each field (for the CSRF check)."""
        out: dict[str, str] = {}
        for key, value in self.fields:
            out.setdefault(key, value)
        return out


def parse_form(raw: bytes) -> Form:
    """application/x-www-form-urlencoded, UTF-8, at most 64 KiB and 200 fields; ValidationError otherwise."""
    if len(raw) > MAX_FORM_BYTES:
        raise ValidationError({"form": f"must be at most {MAX_FORM_BYTES} bytes"})
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise ValidationError({"form": "must be a UTF-8 form of at most 200 fields"}) from None
    return Form(tuple(pairs))


def _number(text: str) -> int | str:
    """A whole number when the text is one; otherwise the text, for the service's parser to name the problem."""
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() and len(stripped) < 12 else stripped


def create_body(form: Form) -> dict[str, Any]:
    """The POST /api/connections body of the add-connection form (empty fields left out; the secret or the
    certificate only when given, and only for the customer's own app)."""
    if form.get("source") == "ad":  # the On-premises AD form: a domain and its sync group
        fields = ("source", "display_name", "domain", "sync_group_id")
        return {name: form.get(name).strip() for name in fields if form.get(name).strip()}
    body: dict[str, Any] = {}
    for name in ("display_name", "tenant", "credential_mode", "cloud"):
        if form.get(name).strip():
            body[name] = form.get(name).strip()
    if body.get("credential_mode") == "customer_app":
        if form.get("client_id").strip():
            body["client_id"] = form.get("client_id").strip()
        kind = form.get("credential_kind", "secret")
        if kind == "certificate" and form.get("certificate").strip():
            body["certificate"] = form.get("certificate")
        elif kind != "certificate" and form.get("client_secret"):
            body["client_secret"] = form.get("client_secret")
        if form.get("credential_expires_on").strip():
            body["credential_expires_on"] = form.get("credential_expires_on").strip()
    if form.get("sync_group_id").strip():
        body["sync_group_id"] = form.get("sync_group_id").strip()
    return body


def user_defaults_of(text: str) -> dict[str, Any]:
    """`name = value` lines; true/false become booleans, whole numbers numbers, anything else text."""
    out: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValidationError({"user_defaults": f"line {number}: write name = value"})
        word = value.strip()
        lowered = word.lower()
        out[name.strip()] = (
            True if lowered == "true" else False if lowered == "false" else int(word) if word.isdigit() else word
        )
    return out


def user_defaults_text(defaults: Mapping[str, Any]) -> str:
    return "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(defaults.items()))


def settings_body(form: Form, current: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body of the settings form: only the fields whose value differs from the connection's view
    (`current`, the API's view), so the audit row names what changed. Nothing different: an empty body (the
    service answers "nothing to change")."""
    percent = form.get("deletion_threshold_percent").strip()
    wanted: dict[str, Any] = {
        "display_name": form.get("display_name").strip(),
        "sync_group_id": form.get("sync_group_id").strip() or None,
        "removal_behaviour": form.get("removal_behaviour"),
        "deletion_threshold": _number(form.get("deletion_threshold")),
        "deletion_threshold_percent": _number(percent) if percent else None,
        "rotation_group_id": form.get("rotation_group_id").strip() or None,
        "rotation_interval_days": _number(form.get("rotation_interval_days")),
    }
    frequency = form.get("frequency")
    schedule: dict[str, Any] = {
        "frequency": frequency,
        "time_of_day": form.get("time_of_day").strip(),
        "timezone": form.get("timezone"),
    }
    if frequency != "daily":
        schedule["weekdays"] = form.all("weekdays")
    wanted["schedule"] = schedule
    wanted["features"] = {"sync": form.has("sync_enabled"), "rotation": form.has("rotation_enabled")}
    wanted["user_defaults"] = user_defaults_of(form.get("user_defaults"))
    stored = current.get("schedule") or {}
    now = {
        **{k: current.get(k) for k in wanted if k not in ("schedule", "features")},
        "schedule": {k: stored.get(k) for k in schedule},
        "features": {"sync": current.get("sync_enabled"), "rotation": current.get("rotation_enabled")},
    }
    body = {k: v for k, v in wanted.items() if v != now.get(k)}
    if current.get("credential_mode") == "customer_app":
        kind = form.get("credential_kind", "secret")
        if kind == "certificate" and form.get("certificate").strip():
            body["certificate"] = form.get("certificate")
        elif kind != "certificate" and form.get("client_secret"):
            body["client_secret"] = form.get("client_secret")
        if ("client_secret" in body or "certificate" in body) and form.get("credential_expires_on").strip():
            body["credential_expires_on"] = form.get("credential_expires_on").strip()
    return body
