"""`make demo-ad`: an on-prem AD connection end to end. A Samba AD DC (loopback, its own address), Azurite and the
emulated Key Vault; the agent registers with a one-time code and talks to the app's real functions over HTTPS;
full sync, changes in the domain, incremental sync, password rotation proven by a bind. Stops all it started."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from emulators.stack import LocalStack, start_local_stack
from scripts import host
from scripts.demo import in_one_loop, say, stop_on_sigterm

PASSWORD = "Start-Pass-123!"  # noqa: S105 (the first passwords of a throw-away demo domain)


async def _agent_job(config: Any, server: Any, job_id: str) -> dict[str, Any]:
    from agent.client import ServiceClient
    from agent.jobs import handlers
    from agent.keys import load_identity
    from agent.runner import work_once
    from shared.composition import Container
    from shared.services import agent_jobs

    identity = load_identity(config.state_dir)
    with ServiceClient(server.url, ca_file=server.ca_file) as client:
        await asyncio.to_thread(work_once, client, identity, handlers(config), 0)
    async with Container.from_env() as container:
        row = await agent_jobs.job_row(container, identity.connection_id, job_id)
    return dict(json.loads(row["result_json"]) if row and row.get("result_json") else {"error": row})


async def _stored_scope(cid: str) -> set[str]:
    from shared.adapters.directory_store import DirectoryStore
    from shared.composition import Container

    async with Container.from_env() as container:
        rows = DirectoryStore(container.tables(), cid).user_rows()
        return {str(r["RowKey"]) async for r in rows if r.get("in_scope") and r.get("status") != "inactive"}


async def _current_password(cid: str, uid: str) -> str:
    from shared.composition import Container
    from shared.domain.rotation_versions import plan_versions
    from shared.domain.secret_names import password_ref

    async with Container.from_env() as container:
        secrets, ref = container.secrets(), password_ref(cid, uid)
        plan = plan_versions(await secrets.versions(ref.name))
        if plan.current is None:
            return ""
        return str((await secrets.get(ref.name, plan.current.version)).value.reveal())


def _binds(dc: Any, dn: str, password: str) -> bool:
    import ssl

    import ldap3

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_file, valid_names=[dc.server_name])
    conn = ldap3.Connection(ldap3.Server(dc.host, port=636, use_ssl=True, tls=tls), dn, password)
    try:
        return bool(password) and bool(conn.bind())
    finally:
        conn.unbind()


async def _call(name: str, method: str, path: str, cid: str, body: Any = None) -> Any:
    status, answer, _ = await host.http(name, method, path, body=body, route={"id": cid})
    if status >= 300:
        raise RuntimeError(f"{name}: {status} {answer}")
    return answer


async def walkthrough(stack: LocalStack, dc: Any, folder: Path) -> None:
    from agent.__main__ import register
    from agent.config import AgentConfig
    from emulators.common.tls import make_loopback_tls
    from tests.ad.app_server import serve_agent_api
    from tests.ad.directory_admin import DomainAdmin

    os.environ.update(stack.env())
    admin = DomainAdmin(dc)
    ou = admin.ou("Demo")
    group, nested = admin.add_group(ou, "Connector Sync"), admin.add_group(ou, "Engineering")
    admin.add_member(group, nested)
    users = {n: admin.add_user(ou, n.lower(), n, "Demo", PASSWORD) for n in ("Ada", "Ben", "Cleo", "Dev", "Eli")}
    for n in ("Ada", "Ben"):
        admin.add_member(group, users[n])
    for n in ("Cleo", "Dev"):
        admin.add_member(nested, users[n])
    say(f"1. Domain {dc.realm} on {dc.host}: sync group with a nested group, 4 of 5 users in scope")
    body = {"source": "ad", "domain": dc.domain, "display_name": "Corp AD", "sync_group_id": admin.guid(group)}
    status, created, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    if status != 201:
        raise RuntimeError(f"connections_create: {status} {created}")
    cid = str(created["id"])
    say(f"   AD connection {cid} for {created['domain']}: no tenant, no consent, no credential; {created['state']}")
    async with serve_agent_api(make_loopback_tls(folder / "tls")) as server:
        code = (await _call("agent_codes_create", "POST", f"/api/connections/{cid}/agents/codes", cid))["code"]
        config = AgentConfig(
            service_url=server.url, state_dir=folder / "agent", password_file=str(folder / "agent" / "ad-password"),
            service_ca_file=server.ca_file, name="demo-agent",
            ldap={"host": dc.host, "base_dn": dc.base_dn, "bind_user": dc.admin_user, "ca_file": dc.ca_file,
                  "server_name": dc.server_name},
        )  # fmt: skip
        agent_id = await asyncio.to_thread(register, config, code)
        Path(config.password_file).write_text(dc.admin_password)  # noqa: ASYNC240 (demo set-up)
        os.chmod(config.password_file, 0o600)
        listed = await _call("agents_list", "GET", f"/api/connections/{cid}/agents", cid)
        say(f"2. Agent {agent_id} registered over HTTPS with a one-time code: {listed['agents'][0]['status']}")
        state = (await _call("connections_get", "GET", f"/api/connections/{cid}", cid))["state"]
        checks = (await _call("connections_verify", "POST", f"/api/connections/{cid}/verify", cid))["checks"]
        say(f"   connection {state}; Test permissions: " + ", ".join(f"{c['name']} {c['status']}" for c in checks))
        for step, mode in (("3. Full sync", "full"), ("5. Incremental sync", "incremental")):
            if mode == "incremental":
                new = admin.add_user(ou, "fay", "Fay", "Demo", PASSWORD)
                admin.add_member(nested, new)
                admin.modify(users["Ada"], displayName="Ada Lovelace")
                admin.disable(users["Ben"])
                admin.remove_member(nested, users["Dev"])
                say("4. Changed the domain: Fay added, Ada renamed, Ben disabled, Dev moved out of the group")
            job = await _call("sync_start", "POST", f"/api/connections/{cid}/sync?mode={mode}", cid)
            result = await _agent_job(config, server, job["job_id"])
            say(f"{step} ({result.get('mode')}): {result.get('outcome')} {result.get('counts')}")
        status = await _call("sync_status", "GET", f"/api/connections/{cid}/status", cid)
        cursor = status["ad_cursor"] or {}
        say(f"   status: {status['source']} {status['domain']}, {status['agents_online']} agent(s) online, AD cursor "
            f"USN {cursor.get('watermark')} of DC {str(cursor.get('invocation_id'))[:8]}..., last run "
            f"{status['last_run']['outcome']}")  # fmt: skip
        truth = admin.ground_truth(group)
        stored = await _stored_scope(cid)
        same = "equals" if stored == set(truth) else "DIFFERS FROM"
        say(f"   the stored scope ({len(stored)} users) {same} the domain's transitive scope ({len(truth)} users)")
        ada = admin.guid(users["Ada"])
        job = await _call("ad_rotate_start", "POST", f"/api/connections/{cid}/agents/rotate", cid, {"users": [ada]})
        result = await _agent_job(config, server, job["job_id"])
        say(f"6. Password rotation via the agent: {result['users'][0]['outcome']} (Key Vault pending first, sealed "
            "to the agent's key, unicodePwd, then current)")  # fmt: skip
        current = await _current_password(cid, ada)
        say(f"   Ada binds with Key Vault's current version: {_binds(dc, users['Ada'], current)}")
    admin.close()


def main() -> int:
    from tests.support.samba import start_samba_dc

    with stop_on_sigterm(), tempfile.TemporaryDirectory(prefix="demo-ad-") as tmp:
        say("starting a Samba AD DC, Azurite, the emulated Entra tenant and Key Vault (loopback only)...")
        with start_samba_dc() as dc, start_local_stack(seed="demo", size=20, tenants=1) as stack:
            asyncio.run(in_one_loop(walkthrough(stack, dc, Path(tmp))))
        say("\nall processes stopped (Samba by its pid); AD demo finished")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every process the demo started has been stopped", file=sys.stderr)
        sys.exit(130)
