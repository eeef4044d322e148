"""The control API over HTTP, the seeded data's shape and determinism, and the command line entry point."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from emulators.entra.seed import seed_world
from emulators.entra.server import EntraEmulator
from emulators.entra.state import World

REPO = Path(__file__).resolve().parents[2]


async def test_http_control_matches_in_process(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient
) -> None:
    index = (await http.get("/_control")).json()
    assert "ground_truth" in index["operations"]
    tier = entra.world.tenants[tenant["id"]].directory.groups
    tier5 = next(g.id for g in tier.values() if g.props["displayName"] == "Sync Tier 5")
    created = (
        await http.post(
            "/_control/create_user",
            json={
                "tenant": tenant["domains"][1],
                "given_name": "Jiří",
                "surname": "Nováček",
                "groups": [tier5],
                "password": "Initial-Secret-123",
            },
        )
    ).json()["result"]
    truth = (await http.post("/_control/ground_truth", json={"tenant": tenant["id"]})).json()["result"]
    assert created["id"] in truth["users"]  # reachable only through five levels of nesting
    assert [tier5, created["id"]] in truth["memberships"]
    assert truth == json.loads(json.dumps(entra.control.ground_truth(tenant["id"])))
    password = (
        await http.get("/_control/get_password", params={"tenant": tenant["id"], "user_id": created["id"]})
    ).json()
    assert password == {"result": "Initial-Secret-123"}
    unknown = await http.post("/_control/drop_database", json={})
    assert unknown.status_code == 400
    bad = await http.post("/_control/get_user", json={"tenant": tenant["id"], "user_id": "nobody"})
    assert bad.status_code == 400
    assert "nobody" in bad.json()["error"]
    fault = await http.post(
        "/_control/set_fault", json={"kind": "429", "nth": 1, "count": 1, "endpoint": "organization"}
    )
    assert fault.json()["result"] == 0
    counters = (await http.post("/_control/counters", json={"reset": True})).json()["result"]
    assert isinstance(counters, dict)


def test_seed_is_deterministic_and_shaped_for_the_scenarios(tmp_path: Path) -> None:
    first, second, other = World(), World(), World()
    a = seed_world(first, "demo", 60, 2, tmp_path / "a")
    b = seed_world(second, "demo", 60, 2, tmp_path / "b")
    c = seed_world(other, "other", 60, 2, tmp_path / "c")

    def strip(described: list[dict[str, Any]]) -> list[dict[str, Any]]:  # certificate paths differ
        return [{k: v for k, v in t.items() if k != "apps"} for t in described]

    assert strip(a) == strip(b)
    assert [t["id"] for t in a] != [t["id"] for t in c]
    assert sorted(first.tenants[a[0]["id"]].directory.users) == sorted(second.tenants[b[0]["id"]].directory.users)
    for described in a:
        tenant = first.tenants[described["id"]]
        directory = tenant.directory
        assert described["group_count"] <= 13
        in_scope, nested_groups = directory.transitive(tenant.sync_group_id)
        assert 0.6 * len(directory.users) < len(in_scope) < len(directory.users)  # most but not all
        direct = {m for m in directory.groups[tenant.sync_group_id].member_ids() if m in directory.users}
        assert len(set(in_scope) - direct) > 0  # users only reachable through nested groups
        assert len(nested_groups) == 5  # a chain six levels deep
        rotation, _ = directory.transitive(tenant.rotation_group_id)
        outside = set(rotation) - set(in_scope)
        assert 0 < len(outside) < len(rotation) / 2
        members = [directory.users[u] for u in rotation]
        assert any(u.props["onPremisesSyncEnabled"] for u in members)
        assert any(u.props["accountEnabled"] is False for u in members)
        assert any(u.privileged for u in members)
        for gid in directory.groups:  # a DAG: no group reaches itself
            assert gid not in directory.transitive(gid)[1]
        assert any(not u.props["displayName"].isascii() for u in directory.users.values())
        assert all(u.props["userPrincipalName"].isascii() for u in directory.users.values())


def test_command_line_prints_one_json_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "emulators.entra", "--port", "0", "--seed", "demo", "--size", "30"),
            *("--tenants", "2", "--cloud", "global", "--cloud", "usgov"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        ready = json.loads(line)
        assert set(ready) == {
            *("login_url", "graph_url", "control_url", "ca_path", "bundle_path", "tenants", "operator_apps")
        }
        assert len(ready["tenants"]) == 2
        assert [t["cloud"] for t in ready["tenants"]] == ["global", "usgov"]
        assert set(ready["operator_apps"]) == {"global", "usgov", "china"}
        first = ready["tenants"][0]
        assert {"id", "domains", "sync_group", "rotation_group", "apps"} <= set(first)
        app = first["apps"][0]
        assert {"client_id", "client_secret", "certificate_path", "consented_permissions", "redirect_uris"} <= set(app)
        pem = Path(app["certificate_path"]).read_text()
        assert "PRIVATE KEY" in pem and "BEGIN CERTIFICATE" in pem
        verify = ssl.create_default_context(cafile=ready["ca_path"])
        config = httpx.get(f"{ready['login_url']}/{first['id']}/v2.0/.well-known/openid-configuration", verify=verify)
        assert config.json()["issuer"].endswith(f"/{first['id']}/v2.0")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert out == ""  # exactly one line was printed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
