"""One measurement in a fresh process: `python -m bench.worker KIND CONFIG_JSON|@FILE`; prints one `RESULT:{json}`
line.

KIND: connector (run_sync full|incremental), baseline (msgraph-sdk + one upsert_entity per object, sequential),
ceiling (Azurite's batched write rate), coldstart (import function_app), firstpage (connector | msgraph).
Each measured run is its own process so that peak RSS is that run's ru_maxrss and imports are cold."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import GraphCounter, StorageCounter, current_rss_mb, emit, peak_rss_mb

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
WARMUP = 200  # a capped baseline phase is extrapolated from its rate after its first WARMUP objects


def connector_credential(cfg: dict[str, Any]) -> Any:
    """The benchmark tenant's customer app, as the connector signs in with it (async azure-identity)."""
    from shared.adapters.entra_auth import make_credential

    return make_credential(
        tenant_id=cfg["tenant_id"],
        client_id=cfg["client_id"],
        secret=cfg["client_secret"],
        login_url=cfg["login_url"],
        ca_path=cfg["ca_path"],
        emulated=True,
    )


def connector_graph(
    cfg: dict[str, Any], *, timeout: float = 120.0, hooks: list[Any] | None = None
) -> tuple[Any, Any, Any]:
    """The connector's own Graph client for the benchmark tenant (its customer app, the emulator's CA):
    (GraphClient, token source, httpx client); the caller closes the last two."""
    import ssl

    import httpx

    from shared.adapters.entra_auth import CredentialTokens
    from shared.adapters.graph import GraphClient

    tokens = CredentialTokens(connector_credential(cfg), GRAPH_SCOPE)
    http = httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=cfg["ca_path"]), timeout=timeout, event_hooks={"request": hooks or []}
    )
    return GraphClient(http, tokens, cfg["graph_url"]), tokens, http


def sdk_graph(cfg: dict[str, Any], *, timeout: float = 120.0, hooks: list[Any] | None = None) -> tuple[Any, Any]:
    """The baseline's client: msgraph-sdk's GraphServiceClient with its default middleware, on the emulator:
    (client, credential); the caller closes the credential."""
    import ssl

    import httpx
    from azure.identity.aio import ClientSecretCredential
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphServiceClient
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph_core import GraphClientFactory

    credential = ClientSecretCredential(
        cfg["tenant_id"],
        cfg["client_id"],
        cfg["client_secret"],
        authority=cfg["login_url"],
        disable_instance_discovery=True,
        connection_verify=cfg["ca_path"],
    )
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=cfg["ca_path"]),
            timeout=timeout,
            event_hooks={"request": hooks or []},
        )
    )
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = cfg["graph_url"]
    return GraphServiceClient(request_adapter=adapter), credential


# -- the connector -----------------------------------------------------------------------------------------------
async def connector(cfg: dict[str, Any]) -> dict[str, Any]:
    """One sync as the first invocation in this process; with cfg["then"], later invocations in the same process,
    as in a Functions worker the host kept running: one, or one per round of changes in cfg["then"]["rounds"]
    (applied to the emulator outside the timed window; the median invocation is reported). Clients come from the
    process's client pool exactly as the function's Container takes them (shared/client_pool.py): the Graph
    credential, HTTP client, table and queue clients are made by the first invocation and reused by the later
    ones; GraphClient and its token source are per invocation."""
    from shared.client_pool import close_pool

    rss_before = current_rss_mb()
    counters = (StorageCounter(), StorageCounter(), GraphCounter())
    try:
        first = await connector_invocation(cfg, cfg["connection_id"], cfg["mode"], counters)
        out = {**first, "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb()}
        then = cfg.get("then")
        if then:  # later invocations in this worker: one, or one per round of changes (the median is kept)
            later = []
            for ops in then.get("rounds") or [[]]:
                await apply_ops(cfg, ops)
                later.append(await connector_invocation(cfg, then["connection_id"], then["mode"], counters))
            ranked = sorted(range(len(later)), key=lambda i: later[i]["wall_s"])
            median = ranked[len(ranked) // 2]
            out["second_invocation"] = {
                **later[median],
                "round": median,
                "rounds_wall_s": [r["wall_s"] for r in later],
            }
    finally:
        await close_pool()
    return out


async def apply_ops(cfg: dict[str, Any], ops: list[list[Any]]) -> None:
    """Changes to the emulator's tenant through its control API (not timed, not counted)."""
    import ssl

    import httpx

    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=cfg["ca_path"]), timeout=120) as control:
        for operation, arguments in ops:
            response = await control.post(f"{cfg['control_url']}/{operation}", json=arguments)
            response.raise_for_status()


def _closer(client: Any) -> Any:
    return getattr(client, "aclose", None) or client.close


async def connector_invocation(
    cfg: dict[str, Any], connection_id: str, mode: str, counters: tuple[StorageCounter, StorageCounter, GraphCounter]
) -> dict[str, Any]:
    """What one invocation of the sync worker does: take its clients from the pool (made on first use), run the
    sync. Timed from just before run_sync to its end: a first invocation makes its token and connections inside
    that window, on first use."""
    import ssl

    import httpx
    from azure.data.tables.aio import TableServiceClient
    from azure.storage.queue.aio import QueueServiceClient

    from shared.adapters.entra_auth import CredentialTokens
    from shared.adapters.graph import GraphClient
    from shared.adapters.queues import QueueSender
    from shared.adapters.table_store import TableStore
    from shared.client_pool import current_pool, fingerprint
    from shared.domain.connection import Connection
    from shared.services.directory_sync import SyncDeps, run_sync
    from shared.services.sync_start import CursorMemo

    tables_counter, queue_counter, graph_counter = counters
    pool = current_pool()
    credential = pool.get(
        ("graph-credential", cfg["tenant_id"], cfg["client_id"], fingerprint(cfg["client_secret"])),
        lambda: connector_credential(cfg),
        _closer,
    )
    http = pool.get(
        ("http", cfg["ca_path"]),
        lambda: httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=cfg["ca_path"]),
            timeout=120.0,
            event_hooks={"request": [graph_counter.hook], "response": [graph_counter.response_hook]},
        ),
        _closer,
    )
    tables = pool.get(
        ("tables", cfg["storage"]),
        lambda: TableStore(
            TableServiceClient.from_connection_string(cfg["storage"], raw_request_hook=tables_counter.hook),
            request_hook=tables_counter.hook,  # the app's own transactions (shared/adapters/table_batch.py)
        ),
        _closer,
    )
    queues = pool.get(
        ("queues", cfg["storage"]),
        lambda: QueueSender(
            QueueServiceClient.from_connection_string(cfg["storage"], raw_request_hook=queue_counter.hook)
        ),
        _closer,
    )
    graph = GraphClient(http, CredentialTokens(credential, GRAPH_SCOPE), cfg["graph_url"])
    connection = Connection(
        id=connection_id,
        tenant_id=cfg["tenant_id"],
        display_name="Benchmark tenant",
        credential_mode="customer_app",
        client_id=cfg["client_id"],
        sync_group_id=cfg["sync_group_id"],
        state="active",
        user_defaults={"sso_enabled": True},
    )
    memo = pool.get(("cursor-memo", cfg["storage"]), CursorMemo, lambda m: m.close)  # as Container.cursor_memo
    deps = SyncDeps(graph=graph, tables=tables, queues=queues, memo=memo)
    before = (tables_counter.as_dict(), queue_counter.as_dict(), graph_counter.requests, queues.sent)
    throttled_before, units_before = graph_counter.throttled, graph_counter.resource_units
    profiler = None
    if cfg.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    started = time.perf_counter()
    cpu_started = time.process_time()
    if profiler:
        profiler.enable()
    result = await run_sync(deps, connection, mode=mode, budget_s=3600.0, trigger="bench")
    invocations = 1
    while result.outcome == "continued":  # not expected with a 1-hour budget; counted if it happens
        invocations += 1
        result = await run_sync(deps, connection, mode=mode, budget_s=3600.0, trigger="bench")
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # this process's CPU (user + system), the sync's own work
    if profiler:
        import io
        import pstats

        for sort in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(45)
            Path(f"{cfg['profile']}.{sort}.txt").write_text(out.getvalue())  # noqa: ASYNC240 - after timing
        profiler.dump_stats(f"{cfg['profile']}.pstats")
    return {
        "wall_s": wall,
        "outcome": result.outcome,
        "mode": result.mode,
        "invocations": invocations,
        "counts": result.counts,
        "graph_requests": graph_counter.requests - before[2],
        "graph_requests_by_label": dict(graph.stats.requests),
        "graph_retries": graph.stats.retries,
        "graph_429s": graph_counter.throttled - throttled_before,
        "resource_units": graph_counter.resource_units - units_before,
        "cpu_s": cpu,
        "rows_per_cpu_s": result.table_writes / cpu if cpu else None,
        "directory_entity_writes": result.table_writes,
        "table_requests": _delta(tables_counter.as_dict(), before[0]),
        "queue_requests": _delta(queue_counter.as_dict(), before[1]),
        "queue_messages": queues.sent - before[3],
        "errors": result.errors,
    }


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


# -- the baseline: what a typical user writes ------------------------------------------------------------------
async def baseline(cfg: dict[str, Any]) -> dict[str, Any]:
    """msgraph-sdk with default paging and model parsing; members listed per group; one upsert_entity per object,
    awaited one after the other. Stores the same objects as the connector: in-scope users (transitive members of
    the sync group), groups with an in-scope direct user member, and those direct (group, user) links.

    With cfg["cap"], each phase stops after `cap` objects (the scope listing too, when cfg["scope"] gives the
    scope for the phases after it) and the orchestrator extrapolates the phase's rate to the full count."""

    from azure.data.tables.aio import TableServiceClient
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.models.user import User
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    rss_before = current_rss_mb()
    cap = cfg.get("cap")
    tables_counter, graph_counter = StorageCounter(), GraphCounter()
    client, credential = sdk_graph(cfg, hooks=[graph_counter.hook])
    service = TableServiceClient.from_connection_string(cfg["storage"], raw_request_hook=tables_counter.hook)
    pk = cfg["connection_id"]
    phases: dict[str, dict[str, Any]] = {}

    warm: dict[str, float] = {}

    def warmed(written: int, began: float, graph_before: int, table_before: int) -> None:
        """The time and requests of a phase's first WARMUP objects (one-off costs: model modules, connections)."""
        if written == WARMUP:
            warm.update(
                warm_s=time.perf_counter() - began,
                warm_graph=graph_counter.requests - graph_before,
                warm_table=tables_counter.total - table_before,
            )

    def phase_done(name: str, began: float, objects: int, graph_before: int, table_before: int, done: bool) -> None:
        phases[name] = {
            "wall_s": time.perf_counter() - began,
            "objects": objects,
            "graph_requests": graph_counter.requests - graph_before,
            "table_requests": tables_counter.total - table_before,
            "complete": done,
            **({"warmup_objects": WARMUP, **warm} if warm else {}),
        }
        warm.clear()

    started = time.perf_counter()
    users_table = service.get_table_client("baselineusers")
    groups_table = service.get_table_client("baselinegroups")
    members_table = service.get_table_client("baselinemembers")
    for table in (users_table, groups_table, members_table):
        await table.create_table()

    # 1. scope: transitive members of the sync group (default paging, parsed to models). Capped like the write
    # phases: it stops after `cap` users and the later phases take the scope from cfg["scope"] (the emulator's
    # ground truth, the same set the full listing gives), so they do exactly what they would after a full listing.
    began, g0, t0 = time.perf_counter(), graph_counter.requests, tables_counter.total
    scope: set[str] = set()
    listed = 0
    scope_complete = True
    members_builder = client.groups.by_group_id(cfg["sync_group_id"]).transitive_members
    page = await members_builder.get()
    while page is not None:
        for obj in page.value or []:
            if isinstance(obj, User) and obj.id:
                scope.add(obj.id)
                listed += 1
                warmed(listed, began, g0, t0)
        if cap and cfg.get("scope") and listed >= cap and page.odata_next_link:
            scope_complete = False
            break
        if not page.odata_next_link:
            break
        page = await members_builder.with_url(page.odata_next_link).get()
    phase_done("scope", began, listed, g0, t0, scope_complete)
    if not scope_complete:
        scope = set(cfg["scope"])

    # 2. users: users.get() with the same attributes the connector keeps, one upsert per in-scope user
    began, g0, t0 = time.perf_counter(), graph_counter.requests, tables_counter.total
    select = [
        "id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "jobTitle", "department",
        "accountEnabled", "onPremisesSyncEnabled", "mobilePhone", "officeLocation", "userType",
    ]  # fmt: skip
    config = RequestConfiguration(
        query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=select)
    )
    written = 0
    complete = True
    users_page = await client.users.get(request_configuration=config)
    while users_page is not None:
        for user in users_page.value or []:
            if user.id not in scope:
                continue
            entity = {
                "PartitionKey": pk,
                "RowKey": user.id,
                "userPrincipalName": user.user_principal_name,
                "mail": user.mail,
                "displayName": user.display_name,
                "givenName": user.given_name,
                "surname": user.surname,
                "jobTitle": user.job_title,
                "department": user.department,
                "accountEnabled": user.account_enabled,
                "onPremisesSyncEnabled": user.on_premises_sync_enabled,
                "mobilePhone": user.mobile_phone,
                "officeLocation": user.office_location,
                "userType": user.user_type,
            }
            await users_table.upsert_entity({k: v for k, v in entity.items() if v is not None})
            written += 1
            warmed(written, began, g0, t0)
            if cap and written >= cap:
                complete = False
                break
        if not complete or not users_page.odata_next_link:
            break
        users_page = await client.users.with_url(users_page.odata_next_link).get()
    phase_done("users", began, written, g0, t0, complete)

    # 3. groups and memberships: groups.get(), then members of each group
    began, g0, t0 = time.perf_counter(), graph_counter.requests, tables_counter.total
    written = 0
    links = 0
    complete = True
    groups_page = await client.groups.get()
    while groups_page is not None and complete:
        for group in groups_page.value or []:
            builder = client.groups.by_group_id(group.id).members
            members: list[str] = []
            member_page = await builder.get()
            while member_page is not None:
                members += [m.id for m in member_page.value or [] if isinstance(m, User) and m.id in scope]
                if not member_page.odata_next_link:
                    break
                member_page = await builder.with_url(member_page.odata_next_link).get()
            if not members:
                continue
            entity = {
                "PartitionKey": pk,
                "RowKey": group.id,
                "displayName": group.display_name,
                "description": group.description,
                "mail": group.mail,
                "mailEnabled": group.mail_enabled,
                "securityEnabled": group.security_enabled,
            }
            await groups_table.upsert_entity({k: v for k, v in entity.items() if v is not None})
            written += 1
            warmed(written, began, g0, t0)
            for uid in members:
                await members_table.upsert_entity({"PartitionKey": f"{pk}_{group.id}", "RowKey": uid})
                written += 1
                links += 1
                warmed(written, began, g0, t0)
                if cap and written >= cap:
                    complete = False
                    break
            if not complete:
                break
        if not complete or not groups_page.odata_next_link:
            break
        groups_page = await client.groups.with_url(groups_page.odata_next_link).get()
    phase_done("groups_and_memberships", began, written, g0, t0, complete)
    phases["groups_and_memberships"]["links"] = links
    wall = time.perf_counter() - started
    for table in (users_table, groups_table, members_table):
        await table.close()
    await service.close()
    await credential.close()
    return {
        "wall_s": wall,
        "capped": bool(cap) and not all(p["complete"] for p in phases.values()),
        "cap": cap,
        "phases": phases,
        "objects_written": sum(p["objects"] for name, p in phases.items() if name != "scope"),
        "graph_requests": graph_counter.requests,
        "table_requests": tables_counter.as_dict(),
        "queue_requests": {"total": 0},
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


# -- Azurite's own ceiling for batched writes ---------------------------------------------------------------------
def _user_row(partition: str, i: int) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": f"{i:08d}-6f1c2a1e-0d7b-4a7e-9a55-{i:012d}",
        "userPrincipalName": f"given.surname{i}@contoso.example.com",
        "mail": f"given.surname{i}@contoso.example.com",
        "displayName": "Given Surname",
        "givenName": "Given",
        "surname": "Surname",
        "jobTitle": "Engineer",
        "department": "Engineering",
        "accountEnabled": True,
        "officeLocation": "Building 7",
        "userType": "Member",
        "status": "active",
        "in_scope": True,
        "hash": "0123456789abcdef0123456789abcdef",
        "removed_reason": "",
        "defaults_json": '{"sso_enabled": true}',
        "synced_at": "2025-01-01T00:00:00Z",
    }


def _link_row(partition: str, i: int) -> dict[str, Any]:
    """A membership row as the connector writes it (dirmembers: the key and the member type only)."""
    return {"PartitionKey": partition, "RowKey": f"{i:08d}-6f1c2a1e-0d7b-4a7e-9a55-{i:012d}", "type": "user"}


async def ceiling(cfg: dict[str, Any]) -> dict[str, Any]:
    """Azurite's batched-write ceiling for each row shape the connector writes (user rows and membership rows),
    100 per transaction (one partition), at several concurrencies, written by two bare loops: the Tables SDK's
    `submit_transaction` and the app's own transaction encoder (shared/adapters/table_batch.py, what the connector
    sends). The faster of the two is the ceiling; the report weighs the shapes by the connector's own row mix."""
    from azure.core.exceptions import ServiceRequestError
    from azure.data.tables import UpdateMode
    from azure.data.tables.aio import TableServiceClient

    from shared.adapters.table_batch import BatchSender

    service = TableServiceClient.from_connection_string(cfg["storage"])
    table = service.get_table_client("ceiling")
    await table.create_table()
    sender = BatchSender.for_service(service)
    assert sender is not None
    count = int(cfg["entities"])

    async def by_sdk(chunk: list[dict[str, Any]]) -> None:
        await table.submit_transaction([("upsert", e) for e in chunk])

    async def by_app(chunk: list[dict[str, Any]]) -> None:
        await sender.send("ceiling", [("upsert", e, {"mode": UpdateMode.MERGE}) for e in chunk])

    writers: dict[str, dict[str, dict[str, float]]] = {}
    for writer, write in (("sdk", by_sdk), ("app", by_app)):
        shapes: dict[str, dict[str, float]] = {}
        for shape, make in (("user", _user_row), ("link", _link_row)):
            results: dict[str, float] = {}
            for concurrency in cfg["concurrency"]:
                partition = f"{writer}{shape}{concurrency}"
                rows = [make(partition, i) for i in range(count)]
                chunks = [rows[i : i + 100] for i in range(0, count, 100)]
                limit = asyncio.Semaphore(concurrency)

                async def submit(
                    chunk: list[dict[str, Any]], limit: asyncio.Semaphore = limit, write: Any = write
                ) -> None:
                    async with limit:
                        for attempt in (1, 2, 3):  # upserts: sent again when Azurite dropped a pooled connection
                            try:
                                await write(chunk)
                                return
                            except ServiceRequestError:
                                if attempt == 3:
                                    raise

                began = time.perf_counter()
                await asyncio.gather(*(submit(c) for c in chunks))
                results[str(concurrency)] = count / (time.perf_counter() - began)
            shapes[shape] = results
        writers[writer] = shapes
    await sender.close()
    await table.close()
    await service.close()
    best = {
        shape: {c: max(writers[w][shape][c] for w in writers) for c in writers["sdk"][shape]}
        for shape in ("user", "link")
    }
    user_best = max(best["user"], key=lambda k: best["user"][k])
    return {
        "entities": count,
        "entities_per_s": best["user"],
        "link_entities_per_s": best["link"],
        "by_writer": writers,
        "best_concurrency": int(user_best),
        "ceiling": max(best["user"].values()),
        "ceiling_link": max(best["link"].values()),
    }


# -- cold start ---------------------------------------------------------------------------------------------------
GRAPH_MODULES = ("msgraph", "kiota", "httpx", "azure.identity", "shared.adapters.graph", "shared.services.sync_fetch")


def coldstart(_cfg: dict[str, Any]) -> dict[str, Any]:
    rss0 = current_rss_mb()
    began = time.perf_counter()
    import function_app  # noqa: F401

    elapsed = time.perf_counter() - began
    loaded = sorted(
        {m.split(".")[0] if not m.startswith("shared") else m for m in sys.modules if m.startswith(GRAPH_MODULES)}
    )
    return {
        "import_s": elapsed,
        "rss_before_mb": rss0,
        "rss_after_mb": current_rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "modules": len(sys.modules),
        "graph_related_loaded": loaded,
    }


async def firstpage(cfg: dict[str, Any]) -> dict[str, Any]:
    """From a cold process: imports, credential, token, first page of the user listing parsed (connector: JSON and
    user_record; msgraph: models)."""
    began = time.perf_counter()
    if cfg["client"] == "connector":
        import httpx  # noqa: F401 (imported here so import time is measured apart from the first page)

        import shared.adapters.entra_auth
        import shared.adapters.graph  # noqa: F401
        from shared.domain.directory import user_record
        from shared.services import sync_fetch

        imported = time.perf_counter() - began
        graph, tokens, http = connector_graph(cfg, timeout=60)
        async with http:
            path, params, headers = sync_fetch.user_listing(cfg["sync_group_id"])
            data = await graph.get_json(path, params=params, headers=headers, label="users.list")
            records = [user_record(item, {}) for item in data["value"]]
        await tokens.close()
        objects = len(records)
    else:
        import azure.identity.aio  # noqa: F401 (imported here so import time is measured apart from the first page)
        import kiota_authentication_azure.azure_identity_authentication_provider  # noqa: F401
        import msgraph
        import msgraph.graph_request_adapter  # noqa: F401
        import msgraph_core  # noqa: F401

        imported = time.perf_counter() - began
        client, credential = sdk_graph(cfg, timeout=60)
        page = await client.users.get()
        objects = len(page.value or []) if page else 0
        await credential.close()
    return {
        "client": cfg["client"],
        "imports_s": imported,
        "first_page_s": time.perf_counter() - began,
        "objects": objects,
        "rss_mb": current_rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> int:
    kind, arg = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}"
    cfg = json.loads(Path(arg[1:]).read_text() if arg.startswith("@") else arg)
    if kind == "coldstart":
        emit(coldstart(cfg))
        return 0
    from bench.worker_ops import coldjob, operator

    runner = {
        "connector": connector,
        "baseline": baseline,
        "ceiling": ceiling,
        "firstpage": firstpage,
        "operator": operator,
        "coldjob": coldjob,
    }[kind]
    emit(asyncio.run(runner(cfg)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
