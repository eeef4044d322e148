"""Parsing connection JSON: every problem by field, unknown fields refused, secrets wrapped."""

from __future__ import annotations

import pytest

from shared.domain.connection import Connection
from shared.domain.connection_input import parse_create, parse_update
from shared.errors import ValidationError

GUID = "0f5a3c2e-1111-4222-8333-944455556666"


def test_admin_consent_minimal() -> None:
    req = parse_create(
        {"tenant": "Contoso.onmicrosoft.com", "display_name": " Contoso ", "credential_mode": "admin_consent"}
    )
    assert req.tenant == "contoso.onmicrosoft.com" and req.credential is None
    assert req.fields["display_name"] == "Contoso" and req.fields["cloud"] == "global"


def test_customer_app_secret_is_wrapped() -> None:
    req = parse_create(
        {
            "tenant": GUID,
            "display_name": "x",
            "credential_mode": "customer_app",
            "client_id": GUID,
            "client_secret": "abc~123",
            "credential_expires_on": "2030-01-01",
        }
    )
    assert req.credential is not None and req.credential.kind == "secret"
    assert "abc~123" not in repr(req) and req.credential.material.reveal() == "abc~123"


def test_every_problem_is_listed() -> None:
    with pytest.raises(ValidationError) as err:
        parse_create(
            {
                "tenant": "not a tenant",
                "credential_mode": "customer_app",
                "cloud": "mars",
                "extra": 1,
                "rotation_interval_days": True,
                "features": {"rotation": True},
                "schedule": {"timezone": "Nowhere/x"},
            }
        )
    assert set(err.value.problems) >= {
        "tenant",
        "display_name",
        "cloud",
        "extra",
        "rotation_interval_days",
        "client_id",
        "client_secret",
        "schedule",
    }


def test_admin_consent_refuses_credentials() -> None:
    with pytest.raises(ValidationError) as err:
        parse_create({"tenant": GUID, "display_name": "x", "credential_mode": "admin_consent", "client_secret": "s"})
    assert "client_secret" in err.value.problems


def test_rotation_needs_a_group() -> None:
    with pytest.raises(ValidationError) as err:
        parse_create(
            {"tenant": GUID, "display_name": "x", "credential_mode": "admin_consent", "features": {"rotation": True}}
        )
    assert "rotation_group_id" in err.value.problems


def test_update_refuses_fixed_fields_and_empty_bodies() -> None:
    current = Connection(id=GUID, tenant_id=GUID, display_name="x", credential_mode="admin_consent")
    with pytest.raises(ValidationError) as err:
        parse_update({"tenant": GUID, "client_secret": "s"}, current)
    assert set(err.value.problems) == {"tenant", "client_secret"}
    with pytest.raises(ValidationError):
        parse_update({}, current)
    changes, credential = parse_update({"schedule": {"frequency": "weekly", "weekdays": ["fri", "mon"]}}, current)
    assert changes["schedule"].weekdays == ("mon", "fri") and credential is None


@pytest.mark.parametrize("body", [None, [], "x", 3, True])
def test_non_objects_are_refused(body: object) -> None:
    with pytest.raises(ValidationError):
        parse_create(body)


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ({"frequency": "weekly"}, "weekly needs weekdays"),
        ({"frequency": "daily", "weekdays": ["mon"]}, "daily runs every day"),
        ({"weekdays": ["mon", "thu"]}, "daily runs every day"),  # frequency defaults to daily
    ],
)
def test_contradictory_schedules_are_refused(schedule: dict[str, object], says: str) -> None:
    """Issue 14, defect 10: weekly without weekdays ran daily; daily with weekdays ran only on those days."""
    current = Connection(id=GUID, tenant_id=GUID, display_name="x", credential_mode="admin_consent")
    with pytest.raises(ValidationError) as err:
        parse_update({"schedule": schedule}, current)
    assert says in err.value.problems["schedule"]


def test_consistent_schedules_are_accepted() -> None:
    current = Connection(id=GUID, tenant_id=GUID, display_name="x", credential_mode="admin_consent")
    for schedule, days in [
        ({"frequency": "daily"}, 7),
        ({"frequency": "daily", "weekdays": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}, 7),
        ({"frequency": "weekly", "weekdays": ["mon"]}, 1),
        ({}, 7),
    ]:
        changes, _ = parse_update({"schedule": schedule}, current)
        assert len(changes["schedule"].weekdays) == days
