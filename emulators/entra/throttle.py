"""Graph's identity-and-access throttling by resource units (Learn: "Microsoft Graph service-specific throttling
limits", section "Identity and access service limits"): a token bucket of resource units per application and tenant,
sized by the tenant's user count, a write budget per application and tenant and one per tenant, request costs from the
documented table, and 429 with Retry-After, x-ms-throttle-scope and x-ms-throttle-reason when a limit is reached."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

WINDOW_S = 10.0
WRITE_WINDOW_S = 150.0
WRITES_PER_APP_TENANT = 3000
TENANT_WRITE_WINDOW_S = 300.0
WRITES_PER_TENANT = 18000
# Low-priority requests are throttled at 100% of the limit, normal ones at 110%, interactive ones at 170%.
PRIORITY_HEADROOM = {"low": 1.0, "normal": 1.1, "interactive": 1.7}
BASE_COSTS: Mapping[tuple[str, str], int] = {
    ("GET", "applications"): 2,
    ("GET", "contracts"): 3,
    ("POST", "directoryObjects/getByIds"): 3,
    ("POST", "getObjectsById"): 3,
    ("GET", "groups/{id}/members"): 3,
    ("GET", "groups/{id}/transitiveMembers"): 5,
    ("POST", "users/{id}/checkMemberGroups"): 4,
    ("POST", "users/{id}/checkMemberObjects"): 4,
    ("POST", "users/{id}/getMemberGroups"): 2,
    ("POST", "users/{id}/getMemberObjects"): 2,
    ("GET", "users/{id}/memberOf"): 2,
    ("GET", "users/{id}/transitiveMemberOf"): 2,
    ("GET", "oauth2PermissionGrants"): 2,
    ("GET", "subscribedSkus"): 3,
    ("GET", "users"): 2,
}
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def bucket_size(user_count: int) -> int:
    """Resource units per 10 s for one application in one tenant: 3,500 under 50 users, 5,000 up to 500, 8,000 above."""
    if user_count < 50:
        return 3500
    if user_count <= 500:
        return 5000
    return 8000


def _shape(segments: list[str]) -> str:
    if len(segments) >= 2 and segments[0] in ("users", "groups", "me"):
        head = "users" if segments[0] == "me" else segments[0]
        return "/".join([head, "{id}", *segments[2:]])
    return "/".join(segments)


def request_cost(method: str, segments: list[str], params: Mapping[str, str]) -> int:
    """The documented base cost (1 when not listed), less 1 with $select, plus 1 with $expand, less 1 with $top
    under 20; never below 1. An OData cast (`.../microsoft.graph.user`) costs as its collection."""
    path = [s for s in segments if not s.startswith("microsoft.graph.")]
    cost = BASE_COSTS.get((method, _shape(path)), 1)
    if "$select" in params:
        cost -= 1
    if "$expand" in params:
        cost += 1
    top = params.get("$top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(1, cost)


@dataclass
class _Bucket:
    capacity: float
    window_s: float
    level: float
    at: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.capacity / self.window_s)
        self.at = now

    def wait_for(self, amount: float, limit: float) -> float:
        """Seconds until `amount` fits under `limit` (0 when it fits now)."""
        missing = amount - self.level - (limit - self.capacity)
        return 0.0 if missing <= 0 else missing * self.window_s / self.capacity


@dataclass(frozen=True)
class Throttled:
    retry_after: int
    scope: str  # x-ms-throttle-scope
    reason: str  # x-ms-throttle-reason


@dataclass
class Throttle:
    """Thread-safe. `enabled` and `scale` (bucket sizes multiplied by it, for tests that must reach a limit quickly)
    are set through the control API; the default is the documented numbers, on."""

    enabled: bool = True
    scale: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, ...], _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, *, enabled: bool = True, scale: float = 1.0) -> None:
        with self._lock:
            self.enabled, self.scale = enabled, scale
            self._buckets.clear()

    def _bucket(self, key: tuple[str, ...], capacity: float, window_s: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, window_s, capacity, now)
        bucket.refill(now)
        return bucket

    def charge(
        self, app_id: str, tenant_id: str, user_count: int, cost: int, *, write: bool, priority: str = "normal"
    ) -> Throttled | None:
        """Take the request's cost from every limit it counts against, or say which limit throttles it."""
        if not self.enabled:
            return None
        headroom = PRIORITY_HEADROOM.get(priority.lower(), 1.1)
        now = self.clock()
        with self._lock:
            limits: list[tuple[tuple[str, ...], int, float, int, str, str]] = [
                (
                    ("ru", app_id, tenant_id),
                    bucket_size(user_count),
                    WINDOW_S,
                    cost,
                    "Tenant_Application_All",
                    "RULimitExceeded",
                ),
            ]
            if write:
                limits.append(
                    (
                        ("w", app_id, tenant_id),
                        WRITES_PER_APP_TENANT,
                        WRITE_WINDOW_S,
                        1,
                        "Tenant_Application_Write",
                        "WriteLimitExceeded",
                    )
                )
                limits.append(
                    (
                        ("tw", tenant_id),
                        WRITES_PER_TENANT,
                        TENANT_WRITE_WINDOW_S,
                        1,
                        "Tenant_Write",
                        "WriteLimitExceeded",
                    )
                )
            buckets = []
            for key, size, window, amount, scope, reason in limits:
                capacity = max(1.0, size * self.scale)
                bucket = self._bucket(key, capacity, window, now)
                wait = bucket.wait_for(amount, capacity * headroom)
                if wait > 0:
                    return Throttled(max(1, math.ceil(wait)), scope, reason)
                buckets.append((bucket, amount))
            for bucket, amount in buckets:
                bucket.level -= amount
        return None
