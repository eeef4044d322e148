"""Change notifications, pure: which items are accepted, what lifecycle events ask for, renewal timing, what a
refused subscription call means (with the remedy), the retry delay of a notification's run, the setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.config import load_settings
from shared.domain.notifications import LIFETIME, MAX_LIFETIME, SubscriptionRow, check, expiry, failure, renewal_due
from shared.services.subscriptions_runs import retry_delay_s

TID = "0f7dae2c-78a2-41e3-99fb-7285c4acd01d"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def item(**changes: object) -> dict[str, object]:
    return {"subscriptionId": "s1", "tenantId": TID, "clientState": "cs", "changeType": "updated", **changes}


def accepted(*items: dict[str, object]) -> object:
    return check({"value": list(items)}, tenant_id=TID, subscriptions=frozenset({"s1", "s2"}), client_state="cs")


def test_a_valid_change_asks_for_a_run() -> None:
    result = accepted(item(), item(subscriptionId="s2", tenantId=TID.upper()))
    assert (result.run, result.refused, result.renew, result.recreate) == (True, 0, frozenset(), frozenset())


@pytest.mark.parametrize(
    "bad",
    [item(clientState="other"), item(clientState=None), item(subscriptionId="s9"), item(tenantId="another"), "x"],
)
def test_wrong_client_state_subscription_or_tenant_is_refused(bad: object) -> None:
    result = accepted(bad)  # type: ignore[arg-type]
    assert (result.run, result.refused) == (False, 1)


def test_lifecycle_events() -> None:
    result = accepted(
        item(lifecycleEvent="reauthorizationRequired"), item(subscriptionId="s2", lifecycleEvent="subscriptionRemoved")
    )
    assert (result.renew, result.recreate, result.run) == (frozenset({"s1"}), frozenset({"s2"}), True)
    assert accepted(item(lifecycleEvent="missed")).run is True
    assert accepted(item(lifecycleEvent="reauthorizationRequired")).run is False


def test_not_a_collection_accepts_nothing() -> None:
    for body in (None, [], {"value": "x"}):
        assert check(body, tenant_id=TID, subscriptions=frozenset({"s1"}), client_state="cs").run is False


def test_expiry_stays_within_the_directory_maximum() -> None:
    assert expiry(NOW) - NOW == LIFETIME < MAX_LIFETIME == timedelta(minutes=41_760)


def test_renewal_is_daily_and_sooner_when_little_is_left() -> None:
    fresh = SubscriptionRow("users", "active", "s1", expiry(NOW), NOW)
    assert not renewal_due(fresh, NOW + timedelta(hours=23))
    assert renewal_due(fresh, NOW + timedelta(days=1))
    stale = SubscriptionRow("users", "active", "s1", NOW + timedelta(days=2), NOW)
    assert renewal_due(stale, NOW + timedelta(minutes=1))
    assert not renewal_due(SubscriptionRow("users", "failed"), NOW)


def test_failures_are_typed_with_their_remedy() -> None:
    state, _, remedy = failure(
        403, "ExtensionError", "The limit of 100 users subscriptions per app per tenant was reached.", "users"
    )
    assert state == "quota_exceeded" and "100 subscriptions per app per tenant" in remedy
    state, _, remedy = failure(403, "ExtensionError", "Insufficient privileges", "groups")
    assert state == "forbidden" and "Group.Read.All" in remedy
    state, _, remedy = failure(400, "InvalidRequest", "Subscription validation request failed.", "users")
    assert state == "failed" and "PUBLIC_BASE_URL" in remedy


def test_a_notification_run_retries_soon_when_the_lease_is_held() -> None:
    assert [retry_delay_s("notification", a, 600) for a in (0, 1, 2, 3, 4, 8)] == [5, 10, 20, 40, 60, None]
    assert [retry_delay_s("schedule", a, 600) for a in (0, 2, 3)] == [600, 600, None]


@pytest.mark.parametrize(
    ("mode", "base", "on"),
    [
        ("auto", "https://app.example", True),
        ("auto", "http://localhost:7071", False),
        ("on", "http://localhost:7071", True),
        ("off", "https://app.example", False),
    ],
)
def test_the_setting(mode: str, base: str, on: bool) -> None:
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "KEY_VAULT_URL": "https://vault.example",
        "PUBLIC_BASE_URL": "http://localhost:7071",
        "NOTIFICATION_BASE_URL": base,
        "CHANGE_NOTIFICATIONS": mode,
    }
    assert load_settings(env).notifications_on is on


def test_a_bad_setting_is_named() -> None:
    from shared.errors import ConfigurationError

    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "KEY_VAULT_URL": "https://v.example",
        "PUBLIC_BASE_URL": "https://a.example",
        "CHANGE_NOTIFICATIONS": "maybe",
    }
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    assert "CHANGE_NOTIFICATIONS" in caught.value.problems
