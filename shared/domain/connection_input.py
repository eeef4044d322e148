"""Parsing an admin's connection JSON (create, update): pure; every problem reported by field; no unknown fields."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.clouds import CLOUDS
from shared.domain.connection import (
    CREDENTIAL_MODES,
    FREQUENCIES,
    REMOVAL_BEHAVIOURS,
    SOURCES,
    WEEKDAYS,
    Connection,
    Schedule,
)
from shared.domain.secret_names import GUID_PATTERN
from shared.domain.secret_values import Secret
from shared.errors import ValidationError

DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
TIME_PATTERN = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # names of unknown fields are shown only when plain


def shown(name: object) -> str:
    """A field name as an error may show it: a plain identifier as it is, anything else never (no raw echo)."""
    return str(name) if IDENTIFIER.fullmatch(str(name)) else "(a name that is not shown)"


MAX_SECRET_CHARS = 1024
MAX_PEM_CHARS = 32 * 1024
MAX_NAME_CHARS = 256
MAX_USER_DEFAULTS = 32


class _Bad(Exception):
    """One field's problem (internal: collected into a ValidationError)."""


@dataclass(frozen=True)
class CredentialInput:
    """A customer app's credential as the admin sent it; the value stays wrapped in a Secret."""

    kind: str  # "secret" | "certificate"
    material: Secret
    expires_on: datetime | None = None


@dataclass(frozen=True)
class CreateRequest:
    tenant: str  # GUID or verified domain, as typed (lower-cased)
    fields: dict[str, Any] = field(default_factory=dict)  # Connection keyword arguments
    credential: CredentialInput | None = None
    allow_second_connection: bool = False  # the tenant may already have a connection (never the same rotation group)
    source: str = "entra"  # "ad": `domain` instead of a tenant; no consent, no credential (docs/ad-agent.md)
    domain: str = ""


# -- field readers ---------------------------------------------------------------------------------------------
def _text(value: Any, max_chars: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str):
        raise _Bad("must be a string")
    text = value.strip()
    if not text:
        raise _Bad("must not be empty")
    if len(text) > max_chars:
        raise _Bad(f"must be at most {max_chars} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise _Bad("must not contain control characters")
    return text


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("must be true or false")
    return value


def _int(low: int, high: int) -> Callable[[Any], int]:
    def read(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad("must be a whole number")
        if not low <= value <= high:
            raise _Bad(f"must be between {low} and {high}")
        return value

    return read


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise _Bad(f"must be one of {', '.join(options)}")
        return value

    return read


def guid(value: Any) -> str:
    if not isinstance(value, str) or not GUID_PATTERN.match(value):
        raise _Bad("must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return value.lower()


def _optional_guid(value: Any) -> str | None:
    return None if value is None else guid(value)


def tenant_key(value: Any) -> str:
    """A tenant id (GUID) or a domain name such as contoso.onmicrosoft.com."""
    if not isinstance(value, str):
        raise _Bad("must be a string: the tenant id (GUID) or a verified domain")
    text = value.strip().lower()
    if GUID_PATTERN.match(text) or DOMAIN_PATTERN.match(text):
        return text
    raise _Bad("must be a tenant id (GUID) or a verified domain such as contoso.onmicrosoft.com")


def ad_domain(value: Any) -> str:
    """An AD domain's DNS name such as corp.example.com (lower-cased; a trailing dot dropped)."""
    if not isinstance(value, str):
        raise _Bad("must be a string: the AD domain's DNS name, e.g. corp.example.com")
    text = value.strip().lower().removesuffix(".")
    if not DOMAIN_PATTERN.match(text):
        raise _Bad("must be the AD domain's DNS name (labels of letters, digits and hyphens), e.g. corp.example.com")
    return text


def _date(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise _Bad("must be an ISO 8601 date or date-time, e.g. 2027-01-31")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad("must be an ISO 8601 date or date-time, e.g. 2027-01-31") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _schedule(value: Any) -> Schedule:
    if not isinstance(value, dict):
        raise _Bad("must be an object with frequency, weekdays, time_of_day, timezone")
    unknown = sorted(set(value) - {"frequency", "weekdays", "time_of_day", "timezone"})
    if unknown:
        raise _Bad(f"unknown field(s): {', '.join(shown(n) for n in unknown)}")
    base = Schedule()
    frequency = _choice(FREQUENCIES)(value.get("frequency", base.frequency))
    if frequency == "weekly" and "weekdays" not in value:
        raise _Bad('frequency weekly needs weekdays (e.g. ["mon", "thu"])')
    weekdays = value.get("weekdays", list(base.weekdays))
    if not isinstance(weekdays, list) or not weekdays or any(d not in WEEKDAYS for d in weekdays):
        raise _Bad(f"weekdays must be a non-empty list of {', '.join(WEEKDAYS)}")
    if frequency == "daily" and set(weekdays) != set(WEEKDAYS):
        raise _Bad("frequency daily runs every day: leave weekdays out, or use frequency weekly for chosen days")
    time_of_day = value.get("time_of_day", base.time_of_day)
    if not isinstance(time_of_day, str) or not TIME_PATTERN.match(time_of_day):
        raise _Bad("time_of_day must be HH:MM (24-hour)")
    timezone = value.get("timezone", base.timezone)
    if not isinstance(timezone, str) or not 0 < len(timezone) <= 64 or ".." in timezone:
        raise _Bad("timezone must be an IANA time zone name such as Europe/Paris")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad("timezone must be an IANA time zone name such as Europe/Paris") from None
    ordered = tuple(d for d in WEEKDAYS if d in weekdays)
    return Schedule(frequency=frequency, weekdays=ordered, time_of_day=time_of_day, timezone=timezone)  # type: ignore[arg-type]


def _user_defaults(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or len(value) > MAX_USER_DEFAULTS:
        raise _Bad(f"must be an object of at most {MAX_USER_DEFAULTS} settings")
    for key, item in value.items():
        if not KEY_PATTERN.match(key):
            raise _Bad(f"setting names must be lower_snake_case, got {shown(key)}")
        if isinstance(item, str):
            _text(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            _int(-(2**31), 2**31 - 1)(item)
        else:
            raise _Bad(f"{key}: values must be strings, booleans, whole numbers or null")
    return dict(value)


def _features(value: Any) -> dict[str, bool]:
    if not isinstance(value, dict):
        raise _Bad('must be an object like {"sync": true, "rotation": false, "notifications": true}')
    unknown = sorted(set(value) - {"sync", "rotation", "notifications"})
    if unknown:
        raise _Bad(f"unknown feature(s): {', '.join(shown(n) for n in unknown)}")
    return {name: _bool(flag) for name, flag in value.items()}


def _secret(value: Any) -> Secret:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SECRET_CHARS:
        raise _Bad(f"must be a non-empty string of at most {MAX_SECRET_CHARS} characters")
    if any(ord(ch) < 32 for ch in value):
        raise _Bad("must not contain control characters")
    return Secret(value.strip())


def _pem(value: Any) -> Secret:
    if not isinstance(value, str) or len(value) > MAX_PEM_CHARS:
        raise _Bad(f"must be a PEM string of at most {MAX_PEM_CHARS} characters")
    if "-----BEGIN CERTIFICATE-----" not in value or "PRIVATE KEY-----" not in value:
        raise _Bad("must be PEM text holding the certificate and its private key")
    return Secret(value)


# field name -> (reader, Connection attribute or None when handled apart)
SETTABLE: dict[str, Callable[[Any], Any]] = {
    "display_name": _text,
    "sync_group_id": _optional_guid,
    "rotation_group_id": _optional_guid,
    "rotation_interval_days": _int(1, 365),
    "schedule": _schedule,
    "removal_behaviour": _choice(REMOVAL_BEHAVIOURS),
    "deletion_threshold": _int(0, 1_000_000),
    "deletion_threshold_percent": lambda v: None if v is None else _int(1, 100)(v),
    "user_defaults": _user_defaults,
    "features": _features,
    "client_secret": _secret,
    "certificate": _pem,
    "credential_expires_on": _date,
}
CREATE_ONLY: dict[str, Callable[[Any], Any]] = {
    "tenant": tenant_key,
    "cloud": _choice(tuple(CLOUDS)),
    "credential_mode": _choice(CREDENTIAL_MODES),
    "client_id": guid,
    "allow_second_connection": _bool,
    "source": _choice(SOURCES),
    "domain": ad_domain,
}
# what a connection with source ad has no use for: it has no tenant, no consent, no credential in the cloud
NOT_FOR_AD: dict[str, str] = {
    "tenant": "not for source ad: an AD connection names its domain instead of a tenant",
    "cloud": "not for source ad: the agent reaches the domain in the customer's network",
    "credential_mode": "not for source ad: the AD account's password stays with the agent",
    "client_id": "not for source ad: there is no app to consent to",
    "client_secret": "not for source ad: the AD account's password stays with the agent, never in the cloud",
    "certificate": "not for source ad: the AD account's password stays with the agent, never in the cloud",
    "credential_expires_on": "not for source ad: there is no credential in the cloud",
    "allow_second_connection": "not for source ad: each domain has one connection",
}


def _read(body: Any, readers: Mapping[str, Callable[[Any], Any]], problems: dict[str, str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    values: dict[str, Any] = {}
    for name in body:
        if name not in readers:
            if IDENTIFIER.fullmatch(str(name)):
                problems[str(name)] = "unknown field"
            else:
                problems["body"] = "holds an unknown field whose name is not a plain identifier (not shown)"
    for name, reader in readers.items():
        if name in body:
            try:
                values[name] = reader(body[name])
            except _Bad as bad:
                problems[name] = str(bad)
    return values


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Connection keyword arguments from parsed values (features flattened)."""
    fields = {k: v for k, v in values.items() if k in SETTABLE and k not in _CREDENTIAL_FIELDS and k != "features"}
    features = values.get("features", {})
    if "sync" in features:
        fields["sync_enabled"] = features["sync"]
    if "rotation" in features:
        fields["rotation_enabled"] = features["rotation"]
    if "notifications" in features:
        fields["notifications_enabled"] = features["notifications"]
    return fields


_CREDENTIAL_FIELDS = ("client_secret", "certificate", "credential_expires_on")


def _credential(values: Mapping[str, Any], problems: dict[str, str]) -> CredentialInput | None:
    if "client_secret" in values and "certificate" in values:
        problems["certificate"] = "give either client_secret or certificate, not both"
        return None
    if "client_secret" in values:
        return CredentialInput("secret", values["client_secret"], values.get("credential_expires_on"))
    if "certificate" in values:
        return CredentialInput("certificate", values["certificate"], values.get("credential_expires_on"))
    return None


def _check_rules(merged: Mapping[str, Any], problems: dict[str, str]) -> None:
    """Rules across fields, on the connection as it would be after the change."""
    if merged.get("rotation_enabled") and not merged.get("rotation_group_id"):
        problems.setdefault("rotation_group_id", "required when the rotation feature is on")
    if not merged.get("sync_enabled") and not merged.get("rotation_enabled"):
        problems.setdefault("features", "turn on at least one of sync and rotation")


CertificateCheck = Callable[[Secret], str | None]  # why a certificate PEM cannot be used, or None


def _check_certificate(values: Mapping[str, Any], check: CertificateCheck | None, problems: dict[str, str]) -> None:
    """The certificate's own checks (key type and size, key match, expiry) beside every other problem."""
    if check is not None and "certificate" in values and "certificate" not in problems:
        problem = check(values["certificate"])
        if problem:
            problems["certificate"] = problem


def parse_create(body: Any, *, certificate_check: CertificateCheck | None = None) -> CreateRequest:
    problems: dict[str, str] = {}
    values = _read(body, {**CREATE_ONLY, **SETTABLE}, problems)
    if values.get("source") == "ad":
        return _parse_create_ad(body, values, problems)
    if "domain" in body:
        problems["domain"] = 'only for "source": "ad" (an Entra tenant is named by "tenant")'
    _check_certificate(values, certificate_check, problems)
    for required in ("tenant", "display_name", "credential_mode"):
        if required not in body and required not in problems:
            problems[required] = "required"
    mode = values.get("credential_mode")
    credential = _credential(values, problems)
    if mode == "customer_app":
        if "client_id" not in body:
            problems.setdefault("client_id", "required for credential_mode customer_app")
        if credential is None and "client_secret" not in problems and "certificate" not in problems:
            problems["client_secret"] = "customer_app needs a client_secret or a certificate"  # noqa: S105
    elif mode == "admin_consent":
        for name in ("client_id", "client_secret", "certificate", "credential_expires_on"):
            if name in body:
                problems[name] = "only for credential_mode customer_app (admin consent uses the operator's app)"
    fields = _fields(values)
    defaults = {"sync_enabled": True, "rotation_enabled": False}
    _check_rules({**defaults, **fields}, problems)
    if problems:
        raise ValidationError(problems)
    fields["credential_mode"] = mode
    fields["cloud"] = values.get("cloud", "global")
    if mode == "customer_app":
        fields["client_id"] = values["client_id"]
    return CreateRequest(
        tenant=values["tenant"],
        fields=fields,
        credential=credential,
        allow_second_connection=values.get("allow_second_connection", False),
    )


def _parse_create_ad(body: Mapping[str, Any], values: dict[str, Any], problems: dict[str, str]) -> CreateRequest:
    """An on-prem AD connection: a domain, a display name and the sync group's objectGUID; nothing of Entra."""
    for name, why in NOT_FOR_AD.items():
        if name in body:
            problems[name] = why
    for required in ("domain", "display_name", "sync_group_id"):
        if body.get(required) is None and required not in problems:
            problems[required] = (
                "required: the objectGUID of the AD group whose members are synced"
                if required == "sync_group_id"
                else "required"
            )
    if values.get("features", {}).get("notifications"):
        problems["features"] = "notifications are Graph change notifications: not for source ad"
    fields = _fields(values)
    _check_rules({"sync_enabled": True, "rotation_enabled": False, **fields}, problems)
    if problems:
        raise ValidationError(problems)
    fields.update(credential_mode="agent", notifications_enabled=False, source="ad", domain=values["domain"])
    return CreateRequest(tenant="", fields=fields, source="ad", domain=values["domain"])


def parse_update(
    body: Any, current: Connection, *, certificate_check: CertificateCheck | None = None
) -> tuple[dict[str, Any], CredentialInput | None]:
    """Changes to apply and an optional new credential. Tenant, cloud and mode are fixed at creation."""
    problems: dict[str, str] = {}
    readers = dict(SETTABLE)
    values = _read(body, readers, problems)
    _check_certificate(values, certificate_check, problems)
    for name in CREATE_ONLY:
        if name in body:
            problems[name] = "cannot be changed: create a new connection instead"
    if "allow_second_connection" in body:
        problems["allow_second_connection"] = "only when creating a connection"
    if not body and not problems:
        problems["body"] = "nothing to change"
    credential = _credential(values, problems)
    if current.source == "ad":
        for name in _CREDENTIAL_FIELDS:
            if name in body:
                problems[name] = NOT_FOR_AD[name]
        if values.get("features", {}).get("notifications"):
            problems["features"] = "notifications are Graph change notifications: not for source ad"
        if "sync_group_id" in values and values["sync_group_id"] is None:
            problems["sync_group_id"] = "required for source ad: the objectGUID of the AD group to sync"
    elif current.credential_mode == "admin_consent":
        for name in _CREDENTIAL_FIELDS:
            if name in body:
                problems[name] = "only for credential_mode customer_app"
    elif "credential_expires_on" in values and credential is None:
        problems["credential_expires_on"] = "give it with the new client_secret or certificate"
    fields = _fields(values)
    current_flags = {
        "sync_enabled": current.sync_enabled,
        "rotation_enabled": current.rotation_enabled,
        "rotation_group_id": current.rotation_group_id,
    }
    _check_rules({**current_flags, **fields}, problems)
    if problems:
        raise ValidationError(problems)
    return fields, credential
