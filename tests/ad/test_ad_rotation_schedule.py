"""The hourly rotation of an AD connection against the Samba DC ("Auto Password Change (days)"): the rotation timer's
job (run_rotation_job, what the `rotation-jobs` worker calls) queues ONE AD rotation job for the rotation group's
transitive members whose password is older than `rotation_interval_days` or was never rotated; the due user's new
password binds and equals Key Vault's current version; a user rotated recently, a user outside the group, and a
user already in an open rotation job are not picked."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scripts import host
from shared.adapters.connection_store import load_connection
from shared.composition import Container
from shared.config import load_settings
from shared.domain.secret_names import password_ref
from shared.errors import SecretNotFound
from shared.services import ad_rotation_schedule, agent_jobs, password_rotation
from tests.ad.ad_flow import PASSWORD, run_agent, sync
from tests.ad.app_server import AppServer
from tests.ad.directory_admin import DomainAdmin
from tests.ad.test_ad_rotation import binds, start, vault
from tests.support.samba import SambaDC

INTERVAL_DAYS = 30


@pytest.fixture
async def rotation_setup(ad_setup: dict[str, Any], domain_admin: DomainAdmin) -> dict[str, Any]:
    """ad_setup's domain (ann in the sync group, bob in its nested group, cy outside both until added) plus a
    rotation group outside the sync tree: ann directly, bob through a nested group, dee directly; cy is synced
    but not in the rotation group. The connection turns rotation on over it."""
    a, s = domain_admin, ad_setup
    tag = s["ou"][5:13]
    rot = a.add_group(s["ou"], f"rot-{tag}")
    inner = a.add_group(s["ou"], f"rot-inner-{tag}")
    a.add_member(rot, inner)
    a.add_member(rot, s["users"]["ann"])
    a.add_member(inner, s["users"]["bob"])
    dee = a.add_user(s["ou"], f"dee{tag[:6]}", "Dee", "Tester", PASSWORD)
    a.add_member(s["group"], dee)
    a.add_member(rot, dee)
    a.add_member(s["group"], s["users"]["cy"])  # synced, not in the rotation group
    cid = s["connection"]
    body = {"features": {"sync": True, "rotation": True}, "rotation_group_id": a.guid(rot),
            "rotation_interval_days": INTERVAL_DAYS}  # fmt: skip
    status, updated, _ = await host.http(
        "connections_update", "PATCH", f"/api/connections/{cid}", body=body, route={"id": cid}
    )
    assert status == 200, updated
    return {**s, "rotation_group": rot, "dee": dee}


async def hourly(cid: str, now: datetime | None = None) -> dict[str, Any]:
    """The rotation timer's work for this connection: the queue worker's job, or (with `now`) its scheduler at
    another moment of the schedule."""
    async with Container(load_settings(os.environ)) as container:
        if now is None:
            report = await password_rotation.run_rotation_job(container, cid)
            assert report is not None
            return {"job_id": report.run_id or None, "users": sorted(report.pending)}
        connection = await load_connection(container.tables(), cid)
        return await ad_rotation_schedule.schedule_ad_rotation(container, connection, now)


async def never_rotated(cid: str, uid: str) -> bool:
    async with Container(load_settings(os.environ)) as container:
        try:
            return not await container.secrets().versions(password_ref(cid, uid).name)
        except SecretNotFound:
            return True


async def test_the_timer_rotates_the_due_members_of_the_rotation_group_only(
    rotation_setup: dict[str, Any], domain_admin: DomainAdmin, samba_dc: SambaDC, app_server: AppServer
) -> None:
    a, s, cid = domain_admin, rotation_setup, rotation_setup["connection"]
    ann, bob, cy, dee = (a.guid(s["users"]["ann"]), a.guid(s["users"]["bob"]), a.guid(s["users"]["cy"]),
                         a.guid(s["dee"]))  # fmt: skip
    await sync(s, app_server, "full")  # the agent reads the rotation group's transitive members with the sync
    await run_agent(s, app_server, (await start(cid, [dee]))["job_id"])  # dee: rotated just now, by hand
    dee_value, dee_version, _ = await vault(cid, dee)

    first = await hourly(cid)
    assert first["job_id"] and first["users"] == sorted([ann, bob])  # not dee (recent), not cy (outside the group)
    async with Container(load_settings(os.environ)) as container:
        job = await agent_jobs.job_row(container, cid, first["job_id"])
    users = sorted(u["user_id"] for u in json.loads(job["payload_json"])["users"])
    assert job["kind"] == "rotate" and users == sorted([ann, bob])  # GUIDs: their order is not the test's
    # the next hour comes before any agent answered: ann and bob are in an open job, so no second job for them
    assert await hourly(cid) == {"job_id": None, "users": []}

    await run_agent(s, app_server, first["job_id"])
    for uid, dn in ((ann, s["users"]["ann"]), (bob, s["users"]["bob"])):
        value, _, pending = await vault(cid, uid)
        assert pending is None and value and value != PASSWORD and binds(samba_dc, dn, value)
    assert await vault(cid, dee) == (dee_value, dee_version, None)  # recently rotated: untouched
    assert await never_rotated(cid, cy)  # outside the rotation group: never a password
    assert await hourly(cid) == {"job_id": None, "users": []}  # everybody rotated within the interval

    soon = datetime.now(UTC) + timedelta(days=INTERVAL_DAYS - 1)
    assert (await hourly(cid, soon))["job_id"] is None
    later = datetime.now(UTC) + timedelta(days=INTERVAL_DAYS + 1)
    due = await hourly(cid, later)  # older than the interval: due again, all three members, cy still not
    assert due["job_id"] and sorted(due["users"]) == sorted([ann, bob, dee])


async def test_a_member_who_leaves_the_rotation_group_is_no_longer_picked(
    rotation_setup: dict[str, Any], domain_admin: DomainAdmin, app_server: AppServer
) -> None:
    a, s, cid = domain_admin, rotation_setup, rotation_setup["connection"]
    await sync(s, app_server, "full")
    a.remove_member(s["rotation_group"], s["dee"])  # an incremental sync reads the rotation group's members again
    await sync(s, app_server)
    picked = await hourly(cid)
    assert sorted(picked["users"]) == sorted([a.guid(s["users"]["ann"]), a.guid(s["users"]["bob"])])


@pytest.fixture(autouse=True)
def _default_policy(domain_admin: DomainAdmin, samba_dc: SambaDC) -> None:
    domain_admin.modify(samba_dc.base_dn, minPwdLength=7)
