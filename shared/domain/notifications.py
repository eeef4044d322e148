"""Graph change notifications, pure: which notifications of a POST to accept, what a lifecycle event asks for,
when a subscription is due for renewal, its expiry, and what a failed subscription call means (with its remedy)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

RESOURCES: tuple[str, ...] = ("users", "groups")
CHANGE_TYPE = "updated,deleted"  # creation and soft-delete of users and groups arrive as `updated` (Learn)
MAX_LIFETIME = timedelta(minutes=41_760)  # directory resources (Learn: subscription resource type)
LIFETIME = MAX_LIFETIME - timedelta(minutes=15)  # asked for at create and renew: clock skew must not make it > max
RENEW_EVERY = timedelta(days=1)  # renewed daily: expiry stays ~28 days away, a removed subscription is seen daily
RENEW_WHEN_LEFT = timedelta(days=3)  # or sooner, when less than this is left (a renewal that kept failing)
MAX_VALIDATION_TOKEN = 1024
State = Literal["active", "failed", "quota_exceeded", "forbidden", "removed", "reauthorize"]


@dataclass(frozen=True)
class SubscriptionRow:
    """What the connector keeps about one of a connection's subscriptions (no secret: clientState is in Key Vault)."""

    resource: str
    state: State
    subscription_id: str = ""
    expires_at: datetime | None = None
    renewed_at: datetime | None = None
    error: str = ""
    remedy: str = ""


def expiry(now: datetime) -> datetime:
    return now + LIFETIME


def renewal_due(row: SubscriptionRow, now: datetime) -> bool:
    """An active subscription is renewed once a day, and whenever less than RENEW_WHEN_LEFT is left."""
    if row.state != "active" or row.expires_at is None:
        return False
    if row.expires_at - now <= RENEW_WHEN_LEFT:
        return True
    return row.renewed_at is None or now - row.renewed_at >= RENEW_EVERY


def needs_create(row: SubscriptionRow | None) -> bool:
    """No subscription, or one that failed or was removed: (re)create it."""
    return row is None or row.state != "active" or not row.subscription_id


def failure(status: int, graph_code: str, message: str, resource: str) -> tuple[State, str, str]:
    """(state, error, remedy) for a refused create or renew (Learn: change notifications limits, permissions)."""
    text = f"{status} {graph_code}: {message}"[:400]
    if status == 403 and "limit" in message.lower():
        return (
            "quota_exceeded",
            text,
            "Graph allows 100 subscriptions per app per tenant for each of users and groups (1,000 per tenant "
            "across apps): delete unused subscriptions of this app in the tenant (GET/DELETE /subscriptions), "
            "or use another app registration; the connector retries hourly",
        )
    if status == 403:
        permission = "User.Read.All" if resource == "users" else "Group.Read.All"
        return "forbidden", text, f"grant the application permission {permission} and admin consent"
    if status == 400 and "validation" in message.lower():
        return (
            "failed",
            text,
            "Graph could not reach the notification endpoint: PUBLIC_BASE_URL (or NOTIFICATION_BASE_URL) must be "
            "this app's public https address and the app must answer within 10 s (keep an instance warm)",
        )
    return "failed", text, "retried hourly; the scheduled sync keeps the copy current meanwhile"


@dataclass(frozen=True)
class Accepted:
    """Notifications of one POST that passed every check: their subscriptions, and whether any asks for a run."""

    run: bool
    renew: frozenset[str]  # subscription ids whose lifecycle event asks for reauthorization (renew)
    recreate: frozenset[str]  # subscription ids Graph says it removed
    refused: int


def client_state_matches(given: Any, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def check(body: Any, *, tenant_id: str, subscriptions: frozenset[str], client_state: str) -> Accepted:
    """Each item must carry one of the connection's subscription ids, its tenant id and its clientState (compared
    in constant time). Items failing any check are refused (counted); the rest decide what to do."""
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return Accepted(False, frozenset(), frozenset(), 0)
    run, renew, recreate, refused = False, set(), set(), 0
    for item in items:
        ok = (
            isinstance(item, dict)
            and item.get("subscriptionId") in subscriptions
            and str(item.get("tenantId", "")).lower() == tenant_id.lower()
            and client_state_matches(item.get("clientState"), client_state)
        )
        if not ok:
            refused += 1
            continue
        event = item.get("lifecycleEvent")
        if event is None or event == "missed":
            run = True  # a change (when, not what), or changes Graph could not send: delta says what
        elif event == "reauthorizationRequired":
            renew.add(item["subscriptionId"])
        elif event == "subscriptionRemoved":
            recreate.add(item["subscriptionId"])
            run = True  # changes since the removal are unannounced
    return Accepted(run, frozenset(renew), frozenset(recreate), refused)
