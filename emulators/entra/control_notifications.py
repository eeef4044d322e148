"""Control operations for change notifications: delivery knobs, lost notifications, lifecycle events, subscriptions."""

from __future__ import annotations

from typing import Any

from emulators.entra.notifier import Notifier
from emulators.entra.subscriptions import iso


class NotificationControl:
    OPERATIONS = frozenset(
        {
            "configure_notifications",
            "drop_notifications",
            "lifecycle_event",
            "subscriptions",
            "remove_subscription",
            "expire_subscription",
            "notification_stats",
        }
    )
    _notifier: Notifier

    def configure_notifications(
        self,
        delay_s: float | None = None,
        retry_base_s: float | None = None,
        retry_window_s: float | None = None,
        response_timeout_s: float | None = None,
        allow_http: bool | None = None,
        batch: int | None = None,
    ) -> dict[str, Any]:
        """Graph's delay before sending, the retry backoff and window, the answer deadline (default 3 s), and
        whether plain-HTTP notification URLs are accepted (Graph: HTTPS only; off by default), and how many
        notifications of one subscription go in one POST (default 100)."""
        s = self._notifier.settings
        for name, value in (
            ("delay_s", delay_s),
            ("retry_base_s", retry_base_s),
            ("retry_window_s", retry_window_s),
            ("response_timeout_s", response_timeout_s),
        ):
            if value is not None:
                if float(value) < 0:
                    raise ValueError(f"{name} must be >= 0")
                setattr(s, name, float(value))
        if batch is not None:
            if int(batch) < 1:
                raise ValueError("batch must be >= 1")
            s.batch = int(batch)
        if allow_http is not None:
            self._notifier.store.allow_http = bool(allow_http)
        return {**s.__dict__, "allow_http": self._notifier.store.allow_http}

    def drop_notifications(self, count: int = 1) -> int:
        """The next `count` notifications are lost without a trace (for directory resources Graph never sends
        `missed`): only the scheduled delta run can catch those changes."""
        self._notifier.settings.drop_next += int(count)
        return self._notifier.settings.drop_next

    def lifecycle_event(self, subscription_id: str, event: str = "reauthorizationRequired") -> None:
        """Send a lifecycle notification (reauthorizationRequired, subscriptionRemoved, missed) to the
        subscription's lifecycleNotificationUrl now; `subscriptionRemoved` also removes the subscription."""
        if event not in ("reauthorizationRequired", "subscriptionRemoved", "missed"):
            raise ValueError(f"unknown lifecycle event {event!r}")
        self._notifier.lifecycle(subscription_id, event)

    def subscriptions(self, tenant: str | None = None) -> list[dict[str, Any]]:
        items = self._notifier.store.alive(self._notifier.world.clock.now())
        return [
            {
                "id": s.id,
                "tenant_id": s.tenant_id,
                "app_id": s.app_id,
                "resource": s.resource,
                "change_types": sorted(s.change_types),
                "notification_url": s.notification_url,
                "lifecycle_url": s.lifecycle_url,
                "expires": iso(s.expires),
            }
            for s in items
            if tenant is None or s.tenant_id == tenant
        ]

    def remove_subscription(self, subscription_id: str) -> bool:
        """Graph removed the subscription on its own (no lifecycle event for directory resources)."""
        with self._notifier.store.lock:
            return self._notifier.store.items.pop(subscription_id, None) is not None

    def expire_subscription(self, subscription_id: str) -> bool:
        """The subscription's expiration time passes now (it was not renewed): Graph deletes it."""
        with self._notifier.store.lock:
            sub = self._notifier.store.items.get(subscription_id)
            if sub is None:
                return False
            sub.expires = self._notifier.world.clock.now()
            return True

    def notification_stats(self) -> dict[str, Any]:
        return self._notifier.view()
