"""`make local`: the local stack for Azure Functions Core Tools. Starts Azurite and the Entra/Graph and Key Vault
emulators on fixed loopback ports, seeds the demo tenant (and the operator credential in the vault), writes
local.settings.json from local.settings.json.example with the stack's endpoints, identity and CA bundle, prints
the next steps (`func start`, URLs to try) and runs until Ctrl-C (or SIGTERM), then stops everything it started.

    python -m scripts.local [--settings local.settings.json] [--state-dir .local]
                            [--ports 10000,10001,10002,47001,47002]   (blob, queue, table, Entra, Key Vault)"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emulators.azurite import Azurite
from emulators.common.processes import port_answers
from emulators.stack import LocalStack, StackPorts, start_local_stack
from scripts.demo import stop_on_sigterm

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "local.settings.json.example"
LOCAL_DIR = REPO / ".local"
# Azurite's defaults (what UseDevelopmentStorage=true points at) and the ports local.settings.json.example names.
FIXED = StackPorts(storage=Azurite(10000, 10001, 10002), entra=47001, keyvault=47002)
OPERATOR_CREDENTIAL_NAME = "operator-app-credential"  # the name, not a secret


def parse_ports(text: str) -> StackPorts:
    blob, queue, table, entra, vault = (int(p) for p in text.split(","))
    return StackPorts(storage=Azurite(blob, queue, table), entra=entra, keyvault=vault)


def busy_ports(ports: StackPorts) -> list[int]:
    wanted = [ports.storage.blob_port, ports.storage.queue_port, ports.storage.table_port, ports.entra, ports.keyvault]
    return [port for port in wanted if port_answers(port)]


def settings_values(stack: LocalStack, example: Path = EXAMPLE, ca_bundle: str | None = None) -> dict[str, str]:
    """The example's settings, every one with this stack's value (the example's key list is the contract)."""
    names = list(json.loads(example.read_text())["Values"])
    env = stack.env()
    missing = [name for name in names if name not in env]
    if missing:
        raise RuntimeError(f"the local stack has no value for {missing}: update emulators/stack.py LocalStack.env")
    values = {name: env[name] for name in names}
    if ca_bundle:
        values["TLS_CA_BUNDLE"] = ca_bundle
    return values


def write_local_settings(path: Path, values: dict[str, str]) -> Path | None:
    """Write local.settings.json (Core Tools' format); an existing one is kept as .bak. Returns the backup."""
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}, indent=2) + "\n", encoding="utf-8")
    return backup


async def seed_vault(values: dict[str, str], operator_secret: str) -> None:
    """What an operator does once per deployment: the multi-tenant app's credential into Key Vault."""
    from shared.client_pool import close_pool
    from shared.composition import Container
    from shared.config import load_settings

    try:
        async with Container(load_settings(values)) as container:
            await container.secrets().set(OPERATOR_CREDENTIAL_NAME, operator_secret, tags={"kind": "operator"})
    finally:
        await close_pool()


@contextmanager
def local_stack(ports: StackPorts, settings_path: Path, bundle_dir: Path = LOCAL_DIR) -> Iterator[LocalStack]:
    """Everything `make local` runs, for as long as the block runs: the stack, the seeded vault, the settings file
    (its CA bundle copied to bundle_dir so the path stays valid while the stack runs)."""
    busy = busy_ports(ports)
    if busy:
        raise RuntimeError(f"port(s) {busy} already in use on 127.0.0.1 (another `make local` or Azurite?): stop it")
    with start_local_stack(seed="demo", size=60, tenants=1, ports=ports) as stack:
        bundle_dir.mkdir(parents=True, exist_ok=True)
        bundle = bundle_dir / "emulator-ca-bundle.pem"
        shutil.copyfile(stack.ca_bundle, bundle)
        values = settings_values(stack, ca_bundle=str(bundle))
        asyncio.run(seed_vault(values, stack.app("multi_tenant")["client_secret"]))
        write_local_settings(settings_path, values)
        yield stack


def next_steps(stack: LocalStack, settings_path: Path) -> str:
    tenant, azurite = stack.tenant, stack.azurite
    domain = tenant["domains"][0]
    body = json.dumps(
        {
            "display_name": "Demo tenant",
            "tenant": domain,
            "credential_mode": "admin_consent",
            "sync_group_id": tenant["sync_group"]["id"],
        }
    )
    return "\n".join(
        [
            "Local stack ready (Ctrl-C stops it):",
            f"  Azurite (in memory)  blob 127.0.0.1:{azurite.blob_port}, queue :{azurite.queue_port},"
            f" table :{azurite.table_port}",
            f"  Entra login + Graph  {stack.entra.login_url}  tenant {domain} ({tenant['id']})",
            f"  Key Vault            {stack.keyvault.vault_url}  (operator credential stored)",
            f"Wrote {settings_path} (from local.settings.json.example; CA bundle in TLS_CA_BUNDLE).",
            "",
            "Next, in another shell in this folder:",
            "  . .venv/bin/activate && func start",
            "Then try (Core Tools does not ask for function keys locally):",
            "  curl http://localhost:7071/api/health",
            f"  curl -X POST http://localhost:7071/api/connections -H 'content-type: application/json' -d '{body}'",
            "  curl http://localhost:7071/api/connections",
            "  curl -i 'http://localhost:7071/api/consent/start?connection=<id from the answer above>'",
            "  python -m scripts.cli connections list        (the CLI reads the same local.settings.json)",
        ]
    )


def console_steps(stack: LocalStack, base_url: str = "http://localhost:7071") -> str:
    """The admin console under `func start`: its sign-in seeded (scripts/console.py) and how to open it."""
    from scripts.console import seed_console

    accounts = seed_console(stack, base_url)
    admin, reader = accounts["admin"], accounts["reader"]
    return "\n".join(
        [
            f"Admin console (after func start): {base_url}/api/console/account (the sign-in comes back to localhost)",
            f"  Admin  {admin.upn}  password {admin.password}",
            f"  Reader {reader.upn}  password {reader.password}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.local", description=__doc__)
    parser.add_argument("--settings", type=Path, default=REPO / "local.settings.json", help="file to write")
    parser.add_argument("--ports", type=parse_ports, default=FIXED, help="blob,queue,table,entra,keyvault")
    parser.add_argument("--state-dir", type=Path, default=LOCAL_DIR, help="where the CA bundle goes (.local)")
    args = parser.parse_args(argv)
    try:
        with stop_on_sigterm(), local_stack(args.ports, args.settings, args.state_dir) as stack:
            print(next_steps(stack, args.settings), flush=True)
            print(console_steps(stack), flush=True)
            threading.Event().wait()  # until Ctrl-C / SIGTERM
    except KeyboardInterrupt:
        print("\nstopped: Azurite and both emulators are down", file=sys.stderr, flush=True)
        return 0
    except RuntimeError as exc:
        print(f"make local: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
