"""Property test (issue 14, acceptance): random tenant operations interleaved with random sync modes keep the
stored copy equal to the emulator's ground truth after every completed non-dry run, and every change is announced
at least once. Hypothesis draws the sequences (derandomized: CI sees the same ones every time); each example is a
new connection on this module's emulated tenant, against Azurite and the Entra emulator over real sockets.
Bounded: MAX_EXAMPLES sequences of at most MAX_STEPS steps (about 40 s on a 2-core machine), and no shrinking
(each shrink step replays a whole sequence against the emulators; a failing sequence is printed as drawn)."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emulators.azurite import Azurite
from emulators.entra.control import ControlError
from emulators.entra.server import EntraEmulator
from shared.adapters.entra_auth import CredentialTokens, make_credential
from shared.adapters.graph import GraphClient, RetryPolicy
from shared.adapters.queues import QueueSender
from shared.adapters.table_store import TableStore
from shared.domain.connection import Connection
from shared.services.directory_sync import run_sync
from tests.integration.sync.conftest import SyncWorld, _no_sleep
from tests.support.entra import app_of

MAX_EXAMPLES = 30
MAX_STEPS = 10

_pick = st.integers(min_value=0, max_value=10_000)
TENANT_OPS = st.one_of(
    st.tuples(st.just("create"), _pick),
    st.tuples(st.just("update"), _pick),
    st.tuples(st.just("disable"), _pick),
    st.tuples(st.just("delete"), _pick),
    st.tuples(st.just("hard_delete"), _pick),
    st.tuples(st.just("restore"), _pick),
    st.tuples(st.just("add_member"), _pick, _pick),
    st.tuples(st.just("remove_member"), _pick),
    st.tuples(st.just("rename"), _pick),
    st.tuples(st.just("nest"), _pick),
)
SYNC_OPS = st.tuples(
    st.just("sync"), st.sampled_from(["incremental", "incremental", "full", "groups", "dry", "held", "killed"]), _pick
)
STEPS = st.lists(st.one_of(TENANT_OPS, SYNC_OPS), min_size=1, max_size=MAX_STEPS)


class _Killed(BaseException):
    """The worker dying mid-run."""


def _dying_at(n: int) -> Callable[[str, dict[str, int]], None]:
    ticks = 0

    def die(phase: str, counts: dict[str, int]) -> None:
        nonlocal ticks
        ticks += 1
        if ticks == n:
            raise _Killed(phase)

    return die


class Scenario:
    def __init__(self, world: SyncWorld) -> None:
        self.world = world
        self.control = world.entra.control
        self.tid = world.tid
        self.sync_group = str(world.connection.sync_group_id)
        self.deleted: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.truth_then: dict[str, Any] = {}

    async def _ids(self, path: str) -> list[str]:
        data = await self.world.graph.get_json(path, params={"$select": "id", "$top": "999"})
        return sorted(str(item["id"]) for item in data["value"])

    async def tenant_op(self, op: tuple[Any, ...]) -> None:
        kind, pick = op[0], op[1]
        users, groups = await self._ids("users"), await self._ids("groups")
        user, group = users[pick % len(users)], groups[pick % len(groups)]
        c, tid = self.control, self.tid
        try:
            if kind == "create":
                c.create_user(tid, "Prop", f"Erty{pick}", groups=[group] if pick % 3 else [])
            elif kind == "update":
                c.update_user(tid, user, jobTitle=f"Title {pick}")
            elif kind == "disable":
                c.update_user(tid, user, accountEnabled=bool(pick % 2))
            elif kind == "delete":
                c.delete_user(tid, user)
                self.deleted.append(user)
            elif kind == "hard_delete":
                c.hard_delete_user(tid, user)
            elif kind == "restore" and self.deleted:
                c.restore_user(tid, self.deleted.pop(pick % len(self.deleted)))
            elif kind == "add_member":
                c.add_member(tid, group, users[op[2] % len(users)])
            elif kind == "remove_member":
                links = self.control.ground_truth(tid)["memberships"]
                if links:
                    g, u = links[pick % len(links)]
                    c.remove_member(tid, g, u)
            elif kind == "rename":
                c.rename_group(tid, group, f"Group {pick}")
            elif kind == "nest" and group != self.sync_group:
                nested = [
                    m["id"]
                    for m in (await self.world.graph.get_json(f"groups/{self.sync_group}/members"))["value"]
                    if m.get("@odata.type") == "#microsoft.graph.group"
                ]
                if group in nested:
                    c.remove_member(tid, self.sync_group, group)
                else:
                    c.add_member(tid, self.sync_group, group)
        except ControlError:
            pass  # not possible in this tenant state (e.g. a nesting cycle, a restore of a purged user)

    async def sync(self, how: str, pick: int) -> None:
        world = self.world
        if how == "dry":
            before = (await world.stored_users(), await world.stored_links())
            assert (await world.sync(mode="full", dry_run=True)).outcome in ("dry_run", "dry_run_partial")
            assert (await world.stored_users(), await world.stored_links()) == before
            return
        if how == "killed":
            try:
                await run_sync(world.deps(progress=_dying_at(1 + pick % 4)), world.connection, budget_s=60)
            except _Killed:
                self.events += await world.events()
                return
        elif how == "held":
            held = dataclasses.replace(world.connection, deletion_threshold=0)
            result = await run_sync(world.deps(), held)
            if result.outcome == "awaiting_approval":
                result = await run_sync(world.deps(), held, approved=True)
            assert result.outcome == "succeeded"
        else:
            result = await world.sync(mode=how)
            if result.outcome == "awaiting_approval":
                result = await world.sync(approved=True)
            assert result.outcome == "succeeded", result
        if how == "groups":
            return  # a groups-only run leaves users to the next incremental run (docs/sync.md)
        await self.check()

    async def check(self) -> None:
        await self.world.assert_matches_ground_truth()
        self.events += await self.world.events()
        truth = self.control.ground_truth(self.tid)
        announced = {(e["type"], e.get("group_id", ""), e["object_id"]) for e in self.events}
        then = self.truth_then
        if then:

            def said(kinds: tuple[str, ...], obj: str, group: str = "") -> bool:
                return any((k, group, obj) in announced for k in kinds)

            for uid in set(truth["users"]) - set(then["users"]):
                assert said(("user.created", "user.restored"), uid), f"{uid} entered unannounced"
            for uid in set(then["users"]) - set(truth["users"]):
                assert said(("user.deactivated", "user.deleted"), uid), f"{uid} left unannounced"
            links_now = {tuple(p) for p in truth["memberships"]}
            links_then = {tuple(p) for p in then["memberships"]}
            for g, u in links_now - links_then:
                assert said(("membership.added",), u, g), f"link {g}/{u} added unannounced"
            for g, u in links_then - links_now:
                assert said(("membership.removed",), u, g), f"link {g}/{u} removed unannounced"
            for gid, name in truth["groups"].items():
                if gid in then["groups"] and then["groups"][gid] != name:
                    assert said(("group.updated",), gid), f"group {gid} renamed unannounced"
        self.truth_then, self.events = truth, []


async def _scenario(entra: EntraEmulator, azurite: Azurite, steps: list[tuple[Any, ...]]) -> None:
    tenant = entra.tenants[0]
    app = app_of(tenant, "customer")
    credential = make_credential(
        tenant_id=tenant["id"],
        client_id=app["client_id"],
        secret=app["client_secret"],
        login_url=entra.login_url,
        ca_path=entra.ca_path,
        emulated=True,
    )
    tokens = CredentialTokens(credential, "https://graph.microsoft.com/.default")
    http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=entra.ca_path), timeout=30)
    graph = GraphClient(http, tokens, entra.graph_url, retry=RetryPolicy(sleep=_no_sleep))
    connection = Connection(
        id=f"p{uuid.uuid4().hex[:12]}",
        tenant_id=tenant["id"],
        display_name="Property",
        credential_mode="customer_app",
        client_id=app["client_id"],
        sync_group_id=tenant["sync_group"]["id"],
        state="active",
    )
    tables = TableStore.from_connection_string(azurite.connection_string)
    queues = QueueSender.from_connection_string(azurite.connection_string)
    world = SyncWorld(entra, tenant, tables, queues, graph, connection, http, tokens)
    try:
        scenario = Scenario(world)
        assert (await world.sync()).outcome == "succeeded"
        await scenario.check()
        for step in steps:
            if step[0] == "sync":
                await scenario.sync(step[1], step[2])
            else:
                await scenario.tenant_op(step)
        await scenario.sync("incremental", 0)  # whatever came last, the next run converges
    finally:
        await tables.close()
        await queues.close()
        await http.aclose()
        await tokens.close()


@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported at once, within CI's time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_any_sequence_of_tenant_changes_and_syncs_keeps_the_copy_true(
    tenant_emulator: EntraEmulator, azurite: Azurite, steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(_scenario(tenant_emulator, azurite, steps))
