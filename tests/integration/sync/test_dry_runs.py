"""Dry runs plan exactly what the real run then does: a full-mode dry run counts each membership removal once
(issue 14, defect 8); a dry run cut short by its time budget says it is partial (defect 5)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.integration.sync.conftest import SyncWorld
from tests.integration.sync.test_safety import _shrunk_scope


@pytest.mark.parametrize("mode", ["full", "incremental"])
async def test_a_dry_run_counts_what_the_real_run_then_does(world: SyncWorld, mode: str) -> None:
    world.connection = dataclasses.replace(world.connection, removal_behaviour="deactivate")
    await world.sync()
    async with _shrunk_scope(world):
        dry = await world.sync(mode=mode, dry_run=True)
        assert dry.outcome == "dry_run"
        real = await world.sync(mode=mode)
        assert real.outcome == "succeeded"
        assert real.counts["membership.removed"] > 0
        planned = {k: v for k, v in dry.counts.items() if not k.startswith(("storage.", "dry_run."))}
        assert planned == {k: v for k, v in real.counts.items() if not k.startswith("storage.")}


async def test_a_dry_run_cut_short_by_its_budget_says_it_is_partial(world: SyncWorld) -> None:
    """Issue 14, defect 5: never `dry_run` with empty counts for a tenant it did not finish."""
    short = await world.sync(mode="full", dry_run=True, budget_s=0)
    assert short.outcome == "dry_run_partial"
    assert short.partial is not None and short.partial["phase"] in ("users", "groups", "removals")
    assert short.to_dict()["partial"] == short.partial
    whole = await world.sync(mode="full", dry_run=True)
    assert whole.outcome == "dry_run" and whole.partial is None
    assert await world.stored_users() == {}
