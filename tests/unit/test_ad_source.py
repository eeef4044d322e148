"""AD as a connection source, the pure part: parsing an AD connection's JSON (every problem by field), old rows
reading as Entra, the states agents and runs leave it in, remedies, the Entra-only refusals and the cloud-side
checks of "Test permissions"."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.domain import ad_source
from shared.domain.connection import Connection, from_entity, to_entity
from shared.domain.connection_input import parse_create, parse_update
from shared.errors import NotForAdSource, NotForEntraSource, ValidationError

GROUP = "0f8fad5b-d9cb-469f-a165-70867728950e"


def ad(**changes: Any) -> Connection:
    base = Connection(id=str(uuid.uuid4()), tenant_id="", display_name="Corp", credential_mode="agent",
                      source="ad", domain="corp.example.com", sync_group_id=GROUP, notifications_enabled=False,
                      state="active")  # fmt: skip
    return base.with_changes(**changes) if changes else base


def problems(body: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_create(body)
    return caught.value.problems


def test_an_ad_connection_needs_a_domain_a_name_and_a_sync_group_and_nothing_of_entra() -> None:
    request = parse_create(
        {"source": "ad", "domain": " Corp.Example.COM. ", "display_name": "Corp", "sync_group_id": GROUP.upper()}
    )
    assert (request.source, request.domain, request.tenant, request.credential) == ("ad", "corp.example.com", "", None)
    assert request.fields["sync_group_id"] == GROUP and request.fields["credential_mode"] == "agent"
    assert request.fields["notifications_enabled"] is False and request.fields["source"] == "ad"


def test_bad_ad_input_names_each_field() -> None:
    found = problems(
        {
            "source": "ad",
            "domain": "not a domain",
            "display_name": "Corp",
            "sync_group_id": "sales",
            "tenant": "contoso.onmicrosoft.com",
            "client_secret": "s3cret-value",
            "features": {"notifications": True},
        }
    )
    assert set(found) == {"domain", "sync_group_id", "tenant", "client_secret", "features"}
    assert "source ad" in found["tenant"] and "s3cret" not in str(found)
    assert set(problems({"source": "ad", "display_name": "Corp"})) == {"domain", "sync_group_id"}
    assert (
        "objectGUID" in problems({"source": "ad", "domain": "corp.example.com", "display_name": "x"})["sync_group_id"]
    )
    assert "source" in problems({"source": "ldap", "domain": "corp.example.com", "display_name": "x"})


def test_a_domain_is_refused_on_an_entra_connection() -> None:
    found = problems(
        {
            "tenant": str(uuid.uuid4()),
            "display_name": "x",
            "credential_mode": "admin_consent",
            "domain": "a.example.com",
        }
    )
    assert set(found) == {"domain"} and "source" in found["domain"]


def test_an_ad_connection_update_refuses_credentials_notifications_and_losing_its_group() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_update({"client_secret": "x" * 20, "features": {"notifications": True}, "sync_group_id": None}, ad())
    assert set(caught.value.problems) == {"client_secret", "features", "sync_group_id"}
    with pytest.raises(ValidationError) as moved:
        parse_update({"domain": "other.example.com", "source": "entra"}, ad())
    assert set(moved.value.problems) == {"domain", "source"}
    changes, credential = parse_update({"deletion_threshold": 3}, ad())
    assert changes == {"deletion_threshold": 3} and credential is None


def test_rows_without_a_source_read_as_entra_and_ad_rows_round_trip() -> None:
    row = to_entity(ad())
    assert (from_entity(row).source, from_entity(row).domain) == ("ad", "corp.example.com")
    old = {k: v for k, v in row.items() if k not in ("source", "domain")} | {"tenant_id": str(uuid.uuid4())}
    assert (from_entity(old).source, from_entity(old).domain, from_entity(old).is_ad) == ("entra", None, False)


def test_the_last_agent_gone_makes_it_pending_agent_and_the_first_one_active() -> None:
    gone = ad_source.after_agents_change(ad(), 0)
    assert gone is not None and gone.state == "pending_agent" and (gone.reason or "").startswith("no_agent")
    assert ad_source.after_agents_change(ad(state="pending_agent"), 0) is None
    assert ad_source.after_agents_change(ad(state="pending_agent"), 1) == ad_source.StateChange("active", None)
    assert ad_source.after_agents_change(ad(), 2) is None
    assert ad_source.after_agents_change(ad(state="disabled"), 0) is None
    entra = Connection(id="x", tenant_id=str(uuid.uuid4()), display_name="E", credential_mode="admin_consent")
    assert ad_source.after_agents_change(entra, 0) is None


def test_missing_ad_credentials_are_an_error_state_until_a_run_reads_ad_again() -> None:
    missing = ad_source.after_run(ad(), "ad_credentials_missing")
    assert missing is not None and missing.state == "error" and "password" in (missing.reason or "")
    assert ad_source.after_run(ad(state="error", state_reason=missing.reason), "ad_credentials_missing") is None
    assert ad_source.after_run(ad(state="error", state_reason=missing.reason), None) == ad_source.StateChange(
        "active", None
    )
    assert ad_source.after_run(ad(), "invalidCredentials") is None  # a failed run; the state stays (status says)
    assert ad_source.after_run(ad(state="pending_agent"), None) is None


def test_each_state_reason_and_run_code_has_a_remedy_naming_the_connection() -> None:
    cid = str(uuid.uuid4())
    assert cid in (ad_source.remedy("no_agent: every agent was removed", cid) or "")
    assert "password_file" in (ad_source.remedy("ad_credentials_missing: the agent has no password", cid) or "")
    assert ad_source.remedy("strongerAuthRequired", cid) and ad_source.remedy(None, cid) is None


def test_entra_only_actions_are_refused_for_ad_naming_what_to_use_instead() -> None:
    connection = ad()
    for action, instead in ad_source.INSTEAD.items():
        with pytest.raises(NotForAdSource) as caught:
            ad_source.require_entra(connection, action)
        assert caught.value.http_status == 409 and caught.value.code == "not_for_ad_source"
        assert "instead" in caught.value.message and instead.replace("{id}", connection.id) in caught.value.message
    entra = Connection(id="x", tenant_id=str(uuid.uuid4()), display_name="E", credential_mode="admin_consent")
    ad_source.require_entra(entra, "consent")
    with pytest.raises(NotForEntraSource):
        ad_source.require_ad(entra, "An AD sync")


def test_the_cloud_side_checks_name_each_fix() -> None:
    now = 10_000.0
    none = ad_source.checks(ad(), [], None, now)
    assert [(c.name, c.status) for c in none] == [("agent_registered", "fail")] and "agents/codes" in none[0].remedy
    offline = [{"RowKey": "a", "state": "active", "last_seen": now - 600}, {"RowKey": "b", "state": "removed"}]
    failed = {"outcome": "failed", "error_code": "ad_credentials_missing", "ended_at": "2026-12-01T10:00:00Z"}
    report = ad_source.checks(ad(), offline, failed, now)
    assert [(c.name, c.status) for c in report] == [
        ("agent_registered", "pass"), ("agent_online", "fail"), ("last_ad_run", "fail")
    ]  # fmt: skip
    assert "600 s ago" in report[1].detail and "443" in report[1].remedy and "password_file" in report[2].remedy
    online = [{"RowKey": "a", "state": "active", "last_seen": now - 5}]
    good = ad_source.checks(ad(), online, {"outcome": "succeeded", "ended_at": "t"}, now)
    assert {c.status for c in good} == {"pass"}
    assert ad_source.checks(ad(), online, None, now)[-1].status == "warn"
