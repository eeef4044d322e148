"""`make demo`: the whole job against the embedded default tenant. Starts Azurite, the emulated Entra tenant and
Key Vault; onboards the tenant by admin consent; verifies; syncs; changes the tenant; syncs again and prints what
changed; rotates passwords and proves Key Vault holds what Entra has. The app's real functions are called the
way the Functions host calls them. Every process started is stopped, also on Ctrl-C or failure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from collections.abc import Coroutine, Iterator
from types import FrameType
from typing import Any

from emulators.stack import LocalStack, start_local_stack
from scripts import host
from scripts.browser import Browser
from shared import storage_names as names
from shared.composition import Container
from shared.domain.secret_names import password_ref


def say(text: str = "") -> None:
    print(text, flush=True)


async def drain_sync_jobs(container: Container) -> int:
    """Act as the queue host: hand every sync-jobs message to the sync_worker function until none is left."""
    handled = 0
    while messages := await container.queues().receive_all(names.SYNC_JOBS):
        for message in messages:
            await host.queue("sync_worker", message)
            handled += 1
    return handled


async def onboard(stack: LocalStack, container: Container) -> str:
    tenant = stack.tenant
    operator = stack.app("multi_tenant")
    # What the operator does once per deployment: store the multi-tenant app's credential in Key Vault.
    await container.secrets().set("operator-app-credential", operator["client_secret"], tags={"kind": "operator"})
    say(f"\n== 1. Connect the tenant {tenant['domains'][0]} by admin consent ==")
    status, body, _ = await host.http(
        "connections_create",
        "POST",
        "/api/connections",
        body={
            "display_name": tenant.get("display_name", "Demo tenant"),
            "tenant": tenant["domains"][0],
            "credential_mode": "admin_consent",
            "sync_group_id": tenant["sync_group"]["id"],
            "rotation_group_id": tenant["rotation_group"]["id"],
            "rotation_interval_days": 30,
            "features": {"sync": True, "rotation": True},
            "removal_behaviour": "deactivate",
            "schedule": {"frequency": "daily", "time_of_day": "02:00", "timezone": "Europe/Berlin"},
        },
    )
    assert status == 201, body
    connection_id = str(body["id"])
    say(f"connection {connection_id}: tenant {body['tenant_id']} (resolved from the domain), state {body['state']}")
    status, _, headers = await host.http("consent_start", "GET", f"/api/consent/start?connection={connection_id}")
    assert status == 302, headers
    consent_link = headers.get("Location") or headers.get("location") or ""
    say(f"admin-consent link: {consent_link.split('&state=')[0]}&state=...")
    admin = tenant["admin"]["user_principal_name"]
    page = await Browser(stack.ca_bundle).open(consent_link)  # the admin's browser: consent, then sign in
    for hop in page.trail:
        say(f"  browser -> {hop.split('?')[0]}")
    say(f"{admin} consented and signed in (Global Administrator of {tenant['domains'][0]})")
    outcome = "verification passed" if "fail" not in page.text.lower() else page.text
    say(f"callback page: HTTP {page.status}; " + outcome)
    if page.status != 200:
        raise SystemExit("the consent flow did not connect the tenant")
    return connection_id


async def verify(connection_id: str) -> None:
    say("\n== 2. Test permissions ==")
    status, report, _ = await host.http(
        "connections_verify", "POST", f"/api/connections/{connection_id}/verify", route={"id": connection_id}
    )
    assert status == 200, report
    for check in (report or {}).get("checks", []):
        say(f"  [{check['status']:>4}] {check['name']}: {check.get('detail') or check.get('message', '')}")


async def sync(container: Container, connection_id: str, title: str) -> Counter[str]:
    say(f"\n== {title} ==")
    status, body, _ = await host.http(
        "sync_start", "POST", f"/api/connections/{connection_id}/sync", route={"id": connection_id}
    )
    assert status == 202, body
    await container.queues().receive_events(names.DIRECTORY_CHANGES)  # only show this run's changes
    await drain_sync_jobs(container)
    _, runs, _ = await host.http(
        "sync_runs", "GET", f"/api/connections/{connection_id}/runs?top=1", route={"id": connection_id}
    )
    run = runs["runs"][0]
    say(
        f"run {run['run_id'][:8]}: mode {run['mode']}, {run['outcome']}, {run['graph_requests']} Graph requests, "
        f"{run['table_writes']} table writes"
    )
    events = Counter(e["type"] for e in await container.queues().receive_events(names.DIRECTORY_CHANGES))
    say("change feed: " + (", ".join(f"{n} {kind}" for kind, n in sorted(events.items())) or "nothing changed"))
    return events


async def compare_with_tenant(stack: LocalStack, container: Container, connection_id: str) -> None:
    truth = stack.entra.control.ground_truth(stack.tenant["id"])
    users = {
        r["RowKey"]: r
        async for r in container.tables().query(names.DIRECTORY_USERS, "PartitionKey eq @pk", {"pk": connection_id})
    }
    active = {u for u, r in users.items() if r["in_scope"] and r["status"] != "inactive"}
    same = active == set(truth["users"])
    say(
        f"stored {len(active)} in-scope users, tenant has {len(truth['users'])} in scope: "
        f"{'identical' if same else 'DIFFERENT'}"
    )
    if not same:
        raise SystemExit("the stored directory differs from the tenant")


def change_tenant(stack: LocalStack) -> None:
    control, tid = stack.entra.control, stack.tenant["id"]
    truth = control.ground_truth(tid)
    say("\n== 4. Change the tenant ==")
    new = control.create_user(tid, "Zoë", "Ångström", groups=[stack.tenant["sync_group"]["id"]])
    say(f"  new user {new['userPrincipalName']} in the sync group")
    group_id, some_user = truth["memberships"][0]
    control.rename_group(tid, group_id, "Renamed in Entra")
    say(f"  renamed group {group_id[:8]}...")
    control.update_user(tid, some_user, accountEnabled=False)
    say(f"  disabled user {some_user[:8]}...")
    leaver = sorted(truth["users"])[-1]
    control.delete_user(tid, leaver)
    say(f"  deleted user {leaver[:8]}...")


async def rotate(stack: LocalStack, container: Container, connection_id: str) -> None:
    say("\n== 6. Rotate passwords of the rotation group ==")
    status, report, _ = await host.http(
        "rotate_connection", "POST", f"/api/connections/{connection_id}/rotate", route={"id": connection_id}
    )
    assert status == 200, report
    rotated = sorted(report["rotated"])  # user id -> Key Vault version id (never the password)
    skipped = Counter(str(reason) for reason in report["skipped"].values())
    say(f"rotated {len(rotated)} users; skipped: {dict(skipped) or 'none'}")
    matches = 0
    for user_id in rotated:
        stored = (await container.secrets().get(password_ref(connection_id, user_id).name)).value
        matches += stored.reveal() == stack.entra.control.get_password(stack.tenant["id"], user_id)
    say(f"Key Vault's current password equals the tenant's for {matches} of {len(rotated)} rotated users")
    if matches != len(rotated):
        raise SystemExit("a stored password differs from the tenant's")


async def walkthrough(stack: LocalStack) -> None:
    os.environ.update(stack.env())
    async with Container.from_env() as container:
        connection_id = await onboard(stack, container)
        await verify(connection_id)
        await sync(container, connection_id, "3. First sync (full)")
        await compare_with_tenant(stack, container, connection_id)
        change_tenant(stack)
        await sync(container, connection_id, "5. Sync again (incremental)")
        await compare_with_tenant(stack, container, connection_id)
        await rotate(stack, container, connection_id)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so every started process is stopped by its context manager."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


async def in_one_loop(work: Coroutine[Any, Any, None]) -> None:
    """Run the walkthrough, then close the clients the functions pooled on this loop (as a host would at exit)."""
    from shared.client_pool import close_pool

    try:
        await work
    finally:
        await close_pool()


def main() -> int:
    with stop_on_sigterm():
        say("starting Azurite, the emulated Entra tenant and Key Vault (loopback, free ports)...")
        with start_local_stack(seed="demo", size=60, tenants=1) as stack:
            say(f"tenant {stack.tenant['domains'][0]} ({stack.tenant['id']}), Graph at {stack.entra.graph_url}")
            asyncio.run(in_one_loop(walkthrough(stack)))
        say("\nall processes stopped; demo finished")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every process the demo started has been stopped", file=sys.stderr)
        sys.exit(130)
