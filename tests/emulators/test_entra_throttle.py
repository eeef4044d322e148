"""Resource-unit throttling, as Learn documents it: costs per request, bucket sizes by tenant size, write budgets,
priorities, and the Retry-After a client must honour. Pure: a fake clock moves time."""

from __future__ import annotations

from typing import Any

import httpx

from emulators.entra.server import EntraEmulator
from emulators.entra.throttle import Throttle, bucket_size, request_cost


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_request_costs_follow_the_documented_table() -> None:
    assert request_cost("GET", ["users"], {}) == 2
    assert request_cost("GET", ["users"], {"$select": "id"}) == 1
    assert request_cost("GET", ["users"], {"$select": "id", "$top": "5"}) == 1  # never below 1
    assert request_cost("GET", ["groups", "g1", "members"], {}) == 3
    assert request_cost("GET", ["groups", "g1", "transitiveMembers", "microsoft.graph.user"], {"$select": "id"}) == 4
    assert request_cost("GET", ["users", "u1"], {}) == 1  # not listed: 1
    assert request_cost("GET", ["users", "u1", "memberOf"], {"$expand": "x"}) == 3
    assert request_cost("PATCH", ["users", "u1"], {}) == 1


def test_bucket_sizes_by_tenant_size() -> None:
    assert (bucket_size(10), bucket_size(50), bucket_size(500), bucket_size(501)) == (3500, 5000, 5000, 8000)


def test_the_bucket_empties_and_refills_over_ten_seconds() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(1750):  # 1,750 x 2 RU = 3,500: the whole bucket of a small tenant
        assert throttle.charge("app", "t", 10, 2, write=False, priority="low") is None
    refused = throttle.charge("app", "t", 10, 2, write=False, priority="low")
    assert refused is not None and refused.reason == "RULimitExceeded" and refused.scope == "Tenant_Application_All"
    assert refused.retry_after == 1  # 2 RU come back in 10 s / 3,500 x 2
    assert throttle.charge("other-app", "t", 10, 2, write=False) is None  # per app per tenant
    assert throttle.charge("app", "t2", 10, 2, write=False) is None
    clock.now += 10
    assert throttle.charge("app", "t", 10, 2, write=False, priority="low") is None


def test_normal_and_interactive_requests_have_headroom_beyond_low_ones() -> None:
    throttle = Throttle(clock=Clock())
    for _ in range(3500):
        assert throttle.charge("app", "t", 10, 1, write=False, priority="low") is None
    assert throttle.charge("app", "t", 10, 1, write=False, priority="low") is not None
    assert throttle.charge("app", "t", 10, 1, write=False, priority="normal") is None  # up to 110 %
    assert throttle.charge("app", "t", 10, 350, write=False, priority="normal") is not None
    assert throttle.charge("app", "t", 10, 350, write=False, priority="interactive") is None  # up to 170 %


def test_writes_have_their_own_budget_per_app_and_per_tenant() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    for i in range(3000):  # 3,000 writes at once fit the 8,000 RU of a large tenant, and the whole write budget
        assert throttle.charge("app", "big", 1000, 1, write=True, priority="low") is None, i
    refused = throttle.charge("app", "big", 1000, 1, write=True, priority="low")
    assert refused is not None and refused.reason == "WriteLimitExceeded"
    assert refused.scope == "Tenant_Application_Write" and refused.retry_after >= 1
    assert throttle.charge("app", "big", 1000, 1, write=False, priority="low") is None  # reads still go


def test_switched_off_or_scaled_by_the_control_api() -> None:
    throttle = Throttle(clock=Clock())
    throttle.reset(scale=0.01)  # 35 RU for a small tenant
    assert all(throttle.charge("a", "t", 1, 1, write=False, priority="low") is None for _ in range(35))
    assert throttle.charge("a", "t", 1, 1, write=False, priority="low") is not None
    throttle.reset(enabled=False)
    assert all(throttle.charge("a", "t", 1, 100, write=False) is None for _ in range(1000))


async def test_graph_throttles_by_resource_units_and_says_when_to_come_back(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}", "x-ms-throttle-priority": "low"}
    first = await http.get("/v1.0/users", params={"$select": "id"}, headers=auth)
    assert first.status_code == 200 and first.headers["x-aad-resource-unit"] == "1"
    full = await http.get("/v1.0/users", headers=auth)
    assert full.headers["x-aad-resource-unit"] == "2"
    entra.control.set_throttling(scale=0.002)  # 10 RU per 10 s for this tenant of 60 users
    try:
        answers = [await http.get("/v1.0/users", headers=auth) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "TooManyRequests"
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["x-ms-throttle-reason"] == "RULimitExceeded"
        assert refused.headers["x-ms-throttle-scope"] == "Tenant_Application_All"
        batch = {"requests": [{"id": str(i), "method": "GET", "url": "/users?$select=id"} for i in range(8)]}
        inner = (await http.post("/v1.0/$batch", json=batch, headers=auth)).json()["responses"]
        throttled = [r for r in inner if r["status"] == 429]  # each inner request is charged on its own
        assert throttled and all("Retry-After" in r["headers"] for r in throttled)
    finally:
        entra.control.set_throttling()
