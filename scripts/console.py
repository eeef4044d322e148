"""`make console`: the admin console on the emulated stack. Starts Azurite and the emulators, seeds the vault and the
console's sign-in (the operator app's app roles, its console callback, the emulator's sign-in page, an Admin and a
Reader with passwords), serves the app with the development host (scripts/devhost.py, a stand-in for `func start`)
and prints the URL and both sign-ins; runs until Ctrl-C. `seed_console` is what the browser tests use too.

    python -m scripts.console [--port 7071]"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from dataclasses import dataclass

from emulators.entra.seed import seeded_admin_password
from emulators.stack import CONSENT_REDIRECT, SIGNIN_REDIRECT, LocalStack

APP_ROLES = [
    {
        "value": "Connector.Admin",
        "displayName": "Connector administrator",
        "description": "Acts in the connector's console: connects tenants, runs syncs, approves deletions.",
    },
    {
        "value": "Connector.Reader",
        "displayName": "Connector reader",
        "description": "Reads the connector's console: connections, runs, rotation and the audit log.",
    },
]


@dataclass(frozen=True)
class ConsoleAccount:
    """A seeded sign-in of the operator's tenant (emulated: the password is the emulator's only)."""

    upn: str
    password: str
    role: str | None
    object_id: str


def seed_console(stack: LocalStack, base_url: str) -> dict[str, ConsoleAccount]:
    """Prepare the emulated operator tenant for the console at `base_url`: the operator app's redirect URIs and
    app roles, the sign-in page switched on, and three accounts (admin, reader, no role) with fresh passwords."""
    control = stack.entra.control
    operator = stack.app("multi_tenant")["client_id"]
    tenant = stack.tenant
    uris = {CONSENT_REDIRECT, f"{base_url}/api/consent/callback", f"{base_url}/api/console/callback"}
    control.set_redirect_uris(operator, sorted(uris))
    control.define_app_roles(operator, APP_ROLES)
    control.use_sign_in_page(True)
    accounts: dict[str, ConsoleAccount] = {}
    for key, given, role in (
        ("admin", "Olga", "Connector.Admin"),
        ("reader", "Rui", "Connector.Reader"),
        ("norole", "Nils", None),
    ):
        password = f"Console-{secrets.token_urlsafe(12)}"
        upn = f"console-{key}-{secrets.token_hex(3)}@{tenant['domains'][0]}"
        made = control.create_user(tenant["id"], given, "Operator", user_principal_name=upn, password=password)
        if role:
            control.assign_app_role(tenant["id"], made["id"], operator, role)
        accounts[key] = ConsoleAccount(upn, password, role, made["id"])
    return accounts


def unseed_console(stack: LocalStack, accounts: dict[str, ConsoleAccount]) -> None:
    """Undo `seed_console` (tests share the stack): the accounts gone for good, the page off, the redirect URIs and
    app roles as seeded."""
    control = stack.entra.control
    for account in accounts.values():
        control.hard_delete_user(stack.tenant["id"], account.object_id)
    control.use_sign_in_page(False)
    operator = stack.app("multi_tenant")["client_id"]
    control.set_redirect_uris(operator, [CONSENT_REDIRECT, SIGNIN_REDIRECT])
    control.define_app_roles(operator, [])


def banner(base_url: str, accounts: dict[str, ConsoleAccount], stack: LocalStack) -> str:
    admin, reader = accounts["admin"], accounts["reader"]
    tenant = stack.tenant
    return "\n".join(
        [
            "Admin console ready (Ctrl-C stops it). Development host: a stand-in for `func start` (docs/devhost.md).",
            f"  Open   {base_url}/api/console/account   (exactly this host name: the sign-in comes back to it)",
            f"  Admin  {admin.upn}  password {admin.password}   (Connector.Admin)",
            f"  Reader {reader.upn}  password {reader.password}   (Connector.Reader)",
            f"  Tenant {tenant['display_name']} ({tenant['id']}) is the operator's tenant; its Global Administrator "
            f"{tenant['admin']['user_principal_name']} (password {seeded_admin_password('demo', tenant['id'])}) "
            "grants admin consent for a connection to it.",
            f"  Entra emulator {stack.entra.login_url}  (its CA: {stack.ca_bundle}; the browser warns: emulated)",
        ]
    )


async def _serve(stack: LocalStack, port: int) -> None:
    from scripts.devhost import serve
    from scripts.local import seed_vault
    from shared.client_pool import close_pool

    base_url = f"http://localhost:{port}"
    env = stack.env(public_base_url=base_url)
    await seed_vault(env, stack.app("multi_tenant")["client_secret"])
    accounts = seed_console(stack, base_url)
    try:
        async with serve(env, port=port) as host:
            print(banner(base_url, accounts, stack), flush=True)
            print(f"  Function key for the JSON API: {host.function_key}", flush=True)
            await asyncio.Event().wait()
    finally:
        await close_pool()


def main(argv: list[str] | None = None) -> int:
    from emulators.stack import start_local_stack
    from scripts.demo import stop_on_sigterm

    parser = argparse.ArgumentParser(prog="python -m scripts.console", description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="the app's port on localhost (7071)")
    args = parser.parse_args(argv)
    try:
        with stop_on_sigterm(), start_local_stack(seed="demo", size=60, tenants=2) as stack:
            asyncio.run(_serve(stack, args.port))
    except KeyboardInterrupt:
        print("\nstopped: the development host, Azurite and both emulators are down", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
