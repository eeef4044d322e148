"""Measurements of issue 21 in a fresh process (dispatched by bench/worker.py): operator scale (many connections
stored: the scheduler tick, the connection listing, one connection's status) and the cold start of a sync job."""

from __future__ import annotations

import statistics
import time
import uuid
from types import SimpleNamespace
from typing import Any

from bench.common import current_rss_mb, peak_rss_mb


class _Tables:
    """What the listing and status services take from the function's Container: the table store, and the settings
    they read (change notifications as a deployment with an https base URL has them: on)."""

    def __init__(self, tables: Any, queues: Any = None) -> None:
        self._tables, self._queues = tables, queues
        self.settings = SimpleNamespace(notifications_on=True)

    def tables(self) -> Any:
        return self._tables

    def queues(self) -> Any:
        return self._queues


async def _seed(tables: Any, start: int, stop: int) -> list[str]:
    """Connections start..stop-1 as the product stores them (row + a status row), all due now (daily 00:00 UTC)."""
    from shared import storage_names as names
    from shared.adapters.sync_state import Status, SyncState
    from shared.domain.connection import Connection, Schedule, to_entity
    from shared.domain.timestamps import utc_now

    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(start, stop)]
    rows = [
        to_entity(
            Connection(
                id=cid,
                tenant_id=str(uuid.uuid4()),
                display_name=f"Tenant {cid[-6:]}",
                credential_mode="customer_app",
                client_id=str(uuid.uuid4()),
                state="active",
                schedule=Schedule(frequency="daily", time_of_day="00:00", timezone="UTC"),
            )
        )
        for cid in ids
    ]
    await tables.write_many(names.CONNECTIONS, upserts=rows)
    for cid in ids:
        await SyncState(tables, cid).save_status(Status(state="idle", last_run_at=utc_now()))
    return ids


async def _timed(work: Any, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


async def operator(cfg: dict[str, Any]) -> dict[str, Any]:
    """For each count (cumulative): the scheduler tick with every connection due (the worst case: each enqueued),
    the next tick (nothing due), the first page of GET /connections, and one connection's status."""
    from shared import storage_names as names
    from shared.adapters.queues import QueueSender
    from shared.adapters.table_store import TableStore
    from shared.services import sync_api, sync_fanout
    from shared.services.connections import list_connections_page
    from shared.services.sync_jobs import enqueue_due

    tables = TableStore.from_connection_string(cfg["storage"])
    queues = QueueSender.from_connection_string(cfg["storage"])
    container: Any = _Tables(tables, queues)
    out: list[dict[str, Any]] = []
    ids: list[str] = []
    try:
        for count in cfg["counts"]:
            ids += await _seed(tables, len(ids), count)
            await queues.receive_all(names.SYNC_JOBS)
            await tables.delete_many(names.SYNC_STATE, [(names.SCHEDULER_SLOTS, cid) for cid in ids])  # due again
            rss_before = current_rss_mb()
            began = time.perf_counter()
            jobs = await enqueue_due(tables, queues)
            tick_s = time.perf_counter() - began
            rss_after = current_rss_mb()
            # many due at once: the tick sent fan-out messages; their worker's work (on any instance) measured too
            fanout = await queues.receive_all(names.SYNC_FANOUT)
            began = time.perf_counter()
            fanned = [await sync_fanout.run_fanout(container, message) for message in fanout]
            fanout_s = time.perf_counter() - began
            began = time.perf_counter()
            idle_jobs = await enqueue_due(tables, queues)
            idle_tick_s = time.perf_counter() - began
            await queues.receive_all(names.SYNC_JOBS)
            page: dict[str, Any] = {}

            middle = ids[len(ids) // 2]

            async def listing(page: dict[str, Any] = page) -> None:  # the same page size at every count
                page.update(await list_connections_page(container, top=10))

            async def listing_100() -> None:
                await list_connections_page(container, top=100)

            async def status(middle: str = middle) -> None:
                await sync_api.status(container, middle)

            out.append(
                {
                    "connections": count,
                    "tick_s": tick_s,
                    "tick_enqueued": len(jobs),
                    "fanout_messages": len(fanout),
                    "fanout_jobs_sent": sum(fanned),
                    "fanout_worker_s": fanout_s,
                    "idle_tick_s": idle_tick_s,
                    "idle_tick_enqueued": len(idle_jobs),
                    "rss_before_tick_mb": rss_before,
                    "rss_after_tick_mb": rss_after,
                    "peak_rss_mb": peak_rss_mb(),
                    "list_page_s": await _timed(listing),
                    "list_page_items": len(page.get("value", [])),
                    "list_page100_s": await _timed(listing_100),
                    "status_s": await _timed(status),
                }
            )
    finally:
        await tables.close()
        await queues.close()
    return {"counts": out, "peak_rss_mb": peak_rss_mb()}


async def coldjob(cfg: dict[str, Any]) -> dict[str, Any]:
    """The sync worker's first invocation in a fresh process, split as the host sees it: `import function_app` (what
    indexing loads), the modules the worker imports on first use, the first token, the first page of the listing."""
    began = time.perf_counter()
    import function_app  # noqa: F401

    indexed = time.perf_counter()
    import httpx  # noqa: F401
    from azure.data.tables.aio import TableServiceClient  # noqa: F401
    from azure.storage.queue.aio import QueueServiceClient  # noqa: F401

    import shared.services.sync_api  # noqa: F401
    from bench.worker import connector_graph
    from shared.services import sync_fetch

    imported = time.perf_counter()
    graph, tokens, http = connector_graph(cfg, timeout=60)
    async with http:
        await tokens.token()
        token_at = time.perf_counter()
        path, params, headers = sync_fetch.user_listing(cfg["sync_group_id"])
        data = await graph.get_json(path, params=params, headers=headers, label="users.list")
        page_at = time.perf_counter()
    await tokens.close()
    return {
        "import_function_app_s": indexed - began,
        "worker_imports_s": imported - indexed,
        "first_token_s": token_at - imported,
        "first_page_s": page_at - token_at,
        "total_s": page_at - began,
        "objects": len(data.get("value", [])),
        "rss_mb": current_rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }
