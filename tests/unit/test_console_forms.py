"""Console forms into the API's bodies (pure, literal data): empty fields left out, the secret only for the
customer's own app, settings as the changed fields only (so the service's parser judges every value and the audit
names what changed), and form bodies bounded."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from shared.console.forms import Form, create_body, parse_form, settings_body, user_defaults_of, user_defaults_text
from shared.errors import ValidationError

CURRENT: dict[str, Any] = {
    "display_name": "Contoso",
    "credential_mode": "customer_app",
    "sync_enabled": True,
    "rotation_enabled": False,
    "sync_group_id": None,
    "rotation_group_id": None,
    "rotation_interval_days": 30,
    "removal_behaviour": "deactivate",
    "deletion_threshold": 500,
    "deletion_threshold_percent": None,
    "schedule": {
        "frequency": "daily",
        "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "time_of_day": "02:00",
        "timezone": "UTC",
    },
    "user_defaults": {},
}
UNCHANGED = [
    ("display_name", "Contoso"),
    ("sync_enabled", "on"),
    ("removal_behaviour", "deactivate"),
    ("deletion_threshold", "500"),
    ("deletion_threshold_percent", ""),
    ("frequency", "daily"),
    ("time_of_day", "02:00"),
    ("timezone", "UTC"),
    ("rotation_interval_days", "30"),
    ("sync_group_id", ""),
    ("rotation_group_id", ""),
    ("user_defaults", ""),
]


def form(pairs: list[tuple[str, str]]) -> Form:
    return parse_form(urlencode(pairs).encode())


def replace(pairs: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    return [(k, changes.get(k, v)) for k, v in pairs]


def test_parse_form_keeps_repeats_and_blanks_and_refuses_junk() -> None:
    parsed = parse_form(b"a=1&weekdays=mon&weekdays=thu&empty=")
    assert parsed.all("weekdays") == ["mon", "thu"] and parsed.get("empty") == "" and parsed.has("empty")
    assert parsed.single() == {"a": "1", "weekdays": "mon", "empty": ""}
    for raw in (b"a=%ff", b"x=" + b"y" * (64 * 1024), b"&".join(b"f%d=1" % i for i in range(201))):
        with pytest.raises(ValidationError):
            parse_form(raw)


def test_create_body_admin_consent_never_sends_secret_fields() -> None:
    body = create_body(
        form(
            [
                ("display_name", " Fab "),
                ("tenant", "fab.onmicrosoft.com"),
                ("credential_mode", "admin_consent"),
                ("client_secret", "s3cret"),
                ("client_id", "x"),
                ("cloud", "global"),
            ]
        )
    )
    assert body == {
        "display_name": "Fab",
        "tenant": "fab.onmicrosoft.com",
        "credential_mode": "admin_consent",
        "cloud": "global",
    }


def test_create_body_customer_app_with_secret_or_certificate() -> None:
    base = [("display_name", "Fab"), ("tenant", "t"), ("credential_mode", "customer_app"), ("client_id", "cid")]
    secret = create_body(
        form([*base, ("credential_kind", "secret"), ("client_secret", "s3cret"), ("certificate", "PEM")])
    )
    assert secret["client_secret"] == "s3cret" and "certificate" not in secret and secret["client_id"] == "cid"
    cert = create_body(
        form([*base, ("credential_kind", "certificate"), ("client_secret", "s3cret"), ("certificate", "PEM")])
    )
    assert cert["certificate"] == "PEM" and "client_secret" not in cert


def test_settings_body_holds_only_what_changed() -> None:
    assert settings_body(form(UNCHANGED), CURRENT) == {}
    changed = settings_body(form(replace(UNCHANGED, deletion_threshold="20", removal_behaviour="delete")), CURRENT)
    assert changed == {"deletion_threshold": 20, "removal_behaviour": "delete"}


def test_settings_body_weekly_schedule_with_weekdays() -> None:
    pairs = [*replace(UNCHANGED, frequency="weekly", time_of_day="06:30"), ("weekdays", "mon"), ("weekdays", "fri")]
    body = settings_body(form(pairs), CURRENT)
    assert body == {
        "schedule": {"frequency": "weekly", "time_of_day": "06:30", "timezone": "UTC", "weekdays": ["mon", "fri"]}
    }
    none_ticked = settings_body(form(replace(UNCHANGED, frequency="weekly")), CURRENT)
    assert none_ticked["schedule"]["weekdays"] == []  # the service refuses it, naming the schedule


def test_settings_body_passes_bad_numbers_on_for_the_service_to_name() -> None:
    body = settings_body(form(replace(UNCHANGED, deletion_threshold="many", deletion_threshold_percent="0")), CURRENT)
    assert body == {"deletion_threshold": "many", "deletion_threshold_percent": 0}


def test_settings_body_features_rotation_and_a_new_secret() -> None:
    pairs = [p for p in UNCHANGED if p[0] != "sync_enabled"] + [("rotation_enabled", "on"), ("client_secret", "n3w")]
    body = settings_body(form(replace(pairs, rotation_group_id="G")), CURRENT)
    assert body == {"features": {"sync": False, "rotation": True}, "rotation_group_id": "G", "client_secret": "n3w"}
    admin = settings_body(form([*UNCHANGED, ("client_secret", "n3w")]), {**CURRENT, "credential_mode": "admin_consent"})
    assert admin == {}


def test_user_defaults_lines() -> None:
    assert user_defaults_of("sso_enabled = true\n\nlocale = fr-FR\nquota = 10\nmfa=False") == {
        "sso_enabled": True,
        "locale": "fr-FR",
        "quota": 10,
        "mfa": False,
    }
    assert user_defaults_text({"sso_enabled": True, "locale": "fr"}) == "locale = fr\nsso_enabled = true"
    with pytest.raises(ValidationError) as raised:
        user_defaults_of("sso_enabled true")
    assert raised.value.problems == {"user_defaults": "line 1: write name = value"}
