"""New default settings (`user_defaults`) reach every stored user at the next run, with events, without a full
Graph read (issue 14, defect 3)."""

from __future__ import annotations

import dataclasses
import json

from tests.integration.sync.conftest import SyncWorld


async def test_changed_defaults_reach_every_stored_user_without_reading_graph_again(world: SyncWorld) -> None:
    await world.sync()
    await world.events()
    before = await world.stored_users()
    world.connection = dataclasses.replace(world.connection, user_defaults={"sso_enabled": False, "locale": "fr"})
    result = await world.sync()
    assert result.mode == "incremental" and result.outcome == "succeeded"
    assert not {"users.list", "scope.transitiveMembers", "users.get"} & set(world.graph.stats.requests)
    users = await world.stored_users()
    assert set(users) == set(before)
    assert {json.loads(row["defaults_json"])["sso_enabled"] for row in users.values()} == {False}
    events = [e for e in await world.events() if e["type"] == "user.updated"]
    assert sorted(e["object_id"] for e in events) == sorted(before)
    assert {e.get("reason") for e in events} == {"defaults_changed"}

    again = await world.sync()
    assert again.table_writes == 0 and await world.events() == []
    full = await world.sync(mode="full")  # the rows' hashes include the new defaults: nothing to rewrite
    assert full.counts.get("user.updated", 0) == 0
    await world.assert_matches_ground_truth()
