"""One run of the reliability suite over the local stack: rounds of random faults, tenant changes, queued jobs,
worker kills, two workers on one connection and Azurite restarts; after each round a settle (faults off, every
worker gone, then the ordinary runs the scheduler would queue) and the invariants (scripts/chaos/invariants.py)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.keyvault.rules import DELETE_DELAY_S
from emulators.stack import LocalStack
from scripts.chaos import invariants, scan, settle
from scripts.chaos.plan import RoundPlan, draw
from scripts.chaos.storage import Storage
from scripts.chaos.workers import WorkerPool
from scripts.chaos.world import ChaosWorld, make_world, throwaway_connection
from scripts.host import http
from shared import storage_names as names
from shared.adapters.queues import QueueSender
from shared.composition import Container
from shared.config import load_settings

TICK_S = 1.0  # the harness queues work (and changes the tenant) once a second while a round runs


@dataclass
class RoundResult:
    index: int
    seed: str
    faults: dict[str, int]
    kills: int
    kills_mid_job: int
    violations: list[str]
    duplicates: int
    events: int
    runs_checked: int
    lease_refusals: int
    poison: int
    purges: int
    workers_died: int
    seconds: float


@dataclass
class Suite:
    stack: LocalStack
    storage: Storage
    workdir: Path
    seed: str
    connections: int = 1
    round_s: float = 8.0
    restarts: bool = True
    results: list[RoundResult] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)  # change-feed event ids delivered so far
    truth_then: dict[str, dict[str, Any]] = field(default_factory=dict)
    offsets: dict[Path, int] = field(default_factory=dict)
    responses: list[tuple[str, str]] = field(default_factory=list)
    purges: list[tuple[str, str, str]] = field(default_factory=list)  # (connection, job id, secret name) to finish
    purged: list[tuple[str, str]] = field(default_factory=list)  # (connection, secret name) to check
    settle_problems: list[str] = field(default_factory=list)
    crashed: str = ""  # why the run stopped early (a round the harness could not finish)

    async def setup(self) -> None:
        self.env = self.stack.env()
        os.environ.update(self.env)
        self.container = Container(load_settings(self.env))
        await self.container.__aenter__()
        self.world: ChaosWorld = await make_world(
            self.stack,
            self.container,
            self.connections,
            random.Random(f"{self.seed}-world"),  # noqa: S311 (ids of test objects)
        )
        self.pool = WorkerPool(self.workdir / "workers", self.env)
        await self.settle()
        events = await self._events()
        for conn in self.world.connections:
            self.truth_then[conn.id] = self.world.truth(conn)
        invariants.duplicates(events, self.seen)

    async def close(self) -> None:
        from shared.client_pool import close_pool

        self.pool.stop_all()
        await self.container.__aexit__(None, None, None)
        await close_pool()  # the functions' pooled clients of this loop (the settle ran them here)

    # --- a round --------------------------------------------------------------------------------------------
    async def round(self, index: int) -> RoundResult:
        began = time.monotonic()
        plan = draw(f"{self.seed}-{index}", self.round_s, restarts=self.restarts)
        faults = Counter(plan.faults_by_kind())
        throttled_before = self.stack.keyvault.control.counters().get("faults", 0)
        doomed = None  # made before the faults are on: the harness's own writes are not under test
        if plan.vault_delete_delay_s:
            rng = random.Random(f"{plan.seed}-purge")  # noqa: S311 (ids of test objects)
            doomed = await throwaway_connection(self.stack, self.container, rng)
        self._arm(plan)
        kills_before, mid_before, died_before = self.pool.kills, self.pool.kills_mid_job, self.pool.died
        await self._run_round(plan, doomed)
        self.pool.stop_all()
        faults.update(self._disarm())
        answered = self.stack.keyvault.control.counters().get("faults", 0) - throttled_before
        faults["keyvault_429_answered"] = answered
        await self.settle()
        self.stack.keyvault.control.set_delete_delay(DELETE_DELAY_S)
        violations, figures = await self.check()
        result = RoundResult(
            index,
            plan.seed,
            dict(faults),
            self.pool.kills - kills_before,
            self.pool.kills_mid_job - mid_before,
            violations,
            figures["duplicates"],
            figures["events"],
            figures["runs"],
            figures["lease_refusals"],
            figures["poison"],
            figures["purges"],
            self.pool.died - died_before,
            round(time.monotonic() - began, 1),
        )
        self.results.append(result)
        return result

    def _arm(self, plan: RoundPlan) -> None:
        control, vault = self.stack.entra.control, self.stack.keyvault.control
        for fault in plan.graph:
            control.set_fault(**fault.control_args(), tenant=self.world.tid)
        if plan.vault_throttle:
            vault.inject_throttling(plan.vault_throttle, retry_after=1)
        vault.set_delete_delay(plan.vault_delete_delay_s or DELETE_DELAY_S)

    def _disarm(self) -> dict[str, int]:
        """Faults off; what fired, by kind (the Entra emulator counts each rule's firings)."""
        control, vault = self.stack.entra.control, self.stack.keyvault.control
        fired: Counter[str] = Counter()
        for rule in control.faults():
            kind = "429_no_retry_after" if rule["kind"] == "429" and rule["retry_after"] is None else rule["kind"]
            fired[f"graph_{kind}"] += int(rule["fired"])
        control.clear_faults()
        vault.clear_faults()  # the slow deletes stay until the settle's purge has waited them out
        return dict(fired)

    async def _run_round(self, plan: RoundPlan, doomed: tuple[str, str] | None) -> None:
        for _ in range(2 if plan.two_workers else 1):
            self.pool.start("sync")
        self.pool.start("rotation")
        await asyncio.to_thread(self.pool.wait_ready)
        kills = list(plan.kills)
        restart_at = plan.azurite_restart_at
        ops = list(plan.tenant_ops)
        queues = self.container.queues()
        start = time.monotonic()
        tick = 0
        while (elapsed := time.monotonic() - start) < plan.duration_s:
            while kills and kills[0].at_s <= elapsed:
                self.pool.kill(kills.pop(0).worker)
            if restart_at is not None and restart_at <= elapsed:
                restart_at = None
                await asyncio.to_thread(self.storage.restart)
            if elapsed >= tick * TICK_S:
                tick += 1
                if ops:
                    op, pick = ops.pop(0)
                    conn = self.world.connections[pick % len(self.world.connections)]
                    self.world.tenant_op(conn, op, pick)
                await self._enqueue(queues, plan, rotation=tick % 2 == 1)
                if tick == 2 and doomed is not None:
                    await self._purge(*doomed)
            await asyncio.sleep(0.1)

    async def _enqueue(self, queues: QueueSender, plan: RoundPlan, *, rotation: bool) -> None:
        """What the scheduler and the timer would queue; the same sync job twice at once for two workers."""
        for conn in self.world.connections:
            job = {"connection_id": conn.id, "mode": plan.sync_mode, "trigger": "chaos", "approved": False}
            try:
                await queues.send_many(names.SYNC_JOBS, [job] * (2 if plan.two_workers else 1))
                if rotation:
                    await queues.send(names.ROTATION_JOBS, {"connection_id": conn.id})
            except Exception:  # noqa: BLE001, S112 (storage restarting: the scheduler's next tick queues it again)
                continue

    async def _purge(self, cid: str, secret: str) -> None:
        """A connection deleted with purge=true while Key Vault is slow to delete (and maybe throttling)."""
        status, body, _ = await http("connections_delete", "DELETE", _purge_url(cid), route={"id": cid})
        self.responses.append(("response connections_delete", f"{status} {json.dumps(body)}"))
        if status == 202 and isinstance(body, dict):
            self.purges.append((cid, str((body.get("purge") or {}).get("job_id", "")), secret))
        else:  # the request itself failed under the faults: the connection must still be whole, and is purged later
            self.settle_problems += [] if status >= 500 else [f"purge: DELETE ?purge=true answered {status} {body}"]
            self.purges.append((cid, "", secret))

    # --- settle (scripts/chaos/settle.py) -----------------------------------------------------------------
    async def settle(self) -> None:
        tables = self.container.tables()
        await settle.age_dead_holds(tables, [conn.id for conn in self.world.connections])
        self.poison = await settle.clear_job_queues(self.env["AzureWebJobsStorage"])
        for conn in self.world.connections:
            self.settle_problems += await settle.sync_until_idle(tables, conn.id)
            await settle.rotate(conn.id)
        for cid, first_job, secret in self.purges:
            job_id = first_job
            if not job_id:  # the request failed under the faults: asked again, as the operator would
                _, body, _ = await http("connections_delete", "DELETE", _purge_url(cid), route={"id": cid})
                job_id = str(((body if isinstance(body, dict) else {}).get("purge") or {}).get("job_id", ""))
            await settle.purge_until_gone(tables, cid, job_id)
            self.purged.append((cid, secret))
        self.purges = []
        await settle.clear_job_queues(self.env["AzureWebJobsStorage"])

    # --- the invariants -------------------------------------------------------------------------------------
    async def _events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await self.container.queues().receive_events(names.DIRECTORY_CHANGES)
        return events

    async def check(self) -> tuple[list[str], dict[str, int]]:
        violations, self.settle_problems = list(self.settle_problems), []
        tables, control, tid = self.container.tables(), self.stack.entra.control, self.world.tid
        events = await self._events()
        figures = {"duplicates": invariants.duplicates(events, self.seen), "events": len(events), "runs": 0}
        secrets = set(self.world.secrets)
        for conn in self.world.connections:
            truth = self.world.truth(conn)
            violations += await invariants.stored_copy(tables, conn.id, truth)
            mine = [e for e in events if e.get("connection_id") == conn.id]
            violations += invariants.announced(self.truth_then[conn.id], truth, mine)
            self.truth_then[conn.id] = truth
            violations += await invariants.passwords(
                self.container, conn.id, truth["users"], lambda uid: control.get_password(tid, uid)
            )
            overlaps, runs = await invariants.overlaps(tables, conn.id)
            violations += overlaps
            figures["runs"] += runs
            secrets |= await scan.passwords(self.container, control, tid, conn.id, truth["users"])
            await self._record_responses(conn.id)
        for cid, secret in self.purged:
            violations += await invariants.purged(self.container, cid, secret)
        figures["purges"], self.purged = len(self.purged), []
        texts = scan.log_texts(self.pool.logs, self.offsets)
        figures["lease_refusals"] = sum("another worker holds the sync lease" in text for _, text in texts)
        figures["poison"] = self.poison
        texts += await scan.table_texts(self.container)
        texts += await scan.queue_texts(self.env["AzureWebJobsStorage"])
        texts += [("change feed", json.dumps(e)) for e in events]
        texts += self.responses
        self.responses = []
        violations += invariants.leaks(texts, secrets)
        return violations, figures

    async def _record_responses(self, cid: str) -> None:
        base = "http://localhost:7071/api/connections"
        for name, path in (("sync_status", "status"), ("sync_runs", "runs"), ("rotation_status", "rotation")):
            status, body, headers = await http(name, "GET", f"{base}/{cid}/{path}", route={"id": cid})
            self.responses.append((f"response {name}", f"{status} {json.dumps(body)} {json.dumps(headers)}"))


def _purge_url(cid: str) -> str:
    return f"http://localhost:7071/api/connections/{cid}?purge=true"
