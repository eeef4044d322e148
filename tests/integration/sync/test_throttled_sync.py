"""Resource-unit throttling (issue 21, target 2): with the emulator's limits lowered far below the documented sizes, a
full sync (whose groups' members are read side by side) is refused with 429s, honours their Retry-After, and stores
the same copy as an unthrottled run."""

from __future__ import annotations

import asyncio
import dataclasses

from shared.adapters.graph import GraphClient, RetryPolicy
from shared.services.directory_sync import SyncDeps, run_sync
from tests.integration.sync.conftest import SyncWorld


async def test_a_full_sync_under_lowered_limits_honours_the_429s_and_stores_the_same_copy(world: SyncWorld) -> None:
    unthrottled = await world.sync(mode="full")
    assert unthrottled.outcome == "succeeded"
    expected = {k: v for k, v in unthrottled.counts.items() if k.endswith("created") or k == "membership.added"}
    world.connection = dataclasses.replace(world.connection, id=world.connection.id + "t")  # a second, empty copy
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # Retry-After is honoured, really waited for (the bucket must refill)
        waits.append(seconds)
        await asyncio.sleep(seconds)

    graph = GraphClient(world.http, world.tokens, world.entra.graph_url, retry=RetryPolicy(sleep=sleep))  # defaults
    # 60 users: 5,000 resource units per 10 s; at this scale 20 (2 a second), fewer than a full run spends
    world.entra.control.set_throttling(True, scale=0.004)
    try:
        throttled = await run_sync(SyncDeps(graph, world.tables, world.queues), world.connection, mode="full")
    finally:
        world.entra.control.set_throttling(True, scale=1.0)
    assert throttled.outcome == "succeeded"
    # refused, and waited as told: each 429's Retry-After (whole seconds), and the other requests held meanwhile
    assert graph.stats.throttled > 0 and waits and max(waits) >= 1 and all(w > 0 for w in waits)
    assert {k: v for k, v in throttled.counts.items() if k in expected} == expected
    await world.assert_matches_ground_truth()
