"""Larger tenants: a 50k-member group split over delta pages, the seed's speed, and the user serving rate."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.entra.seed import seed_world
from emulators.entra.server import EntraEmulator
from emulators.entra.state import World
from tests.support.entra import app_of, start_entra, token_for

SIZE = 50_000


@pytest.fixture(scope="module")
def big() -> Iterator[EntraEmulator]:
    with start_entra(seed="scale", size=SIZE, tenants=1) as emulator:
        yield emulator


@pytest.fixture
async def big_http(big: EntraEmulator) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    tenant = big.tenants[0]
    app = app_of(tenant)
    verify = ssl.create_default_context(cafile=big.ca_path)
    async with httpx.AsyncClient(verify=verify, base_url=big.login_url, timeout=60) as http:
        token = await token_for(http, tenant["id"], app["client_id"], app["client_secret"])
        yield http, {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
async def test_big_group_is_split_across_delta_pages(
    big: EntraEmulator, big_http: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    http, auth = big_http
    directory = big.world.tenants[big.tenants[0]["id"]].directory
    everyone = next(g for g in directory.groups.values() if g.props["displayName"] == "All Staff")
    assert len(everyone.member_ids()) >= SIZE
    url: str | None = f"/v1.0/groups/delta?$select=displayName,members&$filter=id eq '{everyone.id}'"
    members: set[str] = set()
    pages = 0
    while url:
        page = (await http.get(url, headers=auth)).json()
        pages += 1
        assert [row["id"] for row in page["value"]] == [everyone.id]
        links = page["value"][0]["members@delta"]
        assert len(links) <= 500
        members.update(link["id"] for link in links)
        url = page.get("@odata.nextLink")
    assert members == set(everyone.member_ids())
    assert pages == -(-len(members) // 500)


@pytest.mark.slow
async def test_user_serving_rate(
    big: EntraEmulator, big_http: tuple[httpx.AsyncClient, dict[str, str]], record_property: Any
) -> None:
    """A measurement, printed and recorded (no timing assertion): users per second over /users?$top=999."""
    http, auth = big_http
    url: str | None = "/v1.0/users?$top=999"
    count = 0
    began = time.perf_counter()
    while url:
        page = json.loads((await http.get(url, headers=auth)).content)
        count += len(page["value"])
        url = page.get("@odata.nextLink")
    rate = count / (time.perf_counter() - began)
    assert count == SIZE + 1  # the seeded users and the tenant's Global Administrator
    record_property("users_per_second", round(rate))
    print(f"\nEntra emulator served {count} users at {rate:,.0f} users/s (client parsing included)")


@pytest.mark.slow
def test_seed_builds_100k_users(tmp_path: Path) -> None:
    world = World()
    began = time.perf_counter()
    described = seed_world(world, "speed", 100_000, 1, tmp_path)
    elapsed = time.perf_counter() - began
    directory = world.tenants[described[0]["id"]].directory
    assert len(directory.users) == 100_001  # plus the tenant's seeded Global Administrator
    assert described[0]["group_count"] > 1000
    print(f"\nseeded 100,000 users and {described[0]['group_count']} groups in {elapsed:.1f} s")
