"""CLI commands for connections: create, list, show, update, delete, verify, consent-url, invite, revoke-invite (the
API's services)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from shared.errors import ValidationError

SECRET_FIELDS = {
    "client_secret": "never put a client secret in --json (it lands in shell history): use --prompt-secret, or "
    "--secret-stdin to pipe it in from a script",
    "certificate": "never put a certificate's private key in --json: use --certificate-file",
}


def _json(text: str | None) -> dict[str, Any]:
    """The --json body; refused (naming the flag to use instead, never echoing it) when it holds a secret."""
    if not text:
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise ValidationError({"--json": "must be valid JSON"}) from None
    if not isinstance(body, dict):
        raise ValidationError({"--json": "must be a JSON object"})
    problems = {name: why for name, why in SECRET_FIELDS.items() if name in body}
    if problems:
        raise ValidationError(problems)
    return body


def _stdin_secret() -> str:
    """The client secret: the first line of standard input (scripts pipe it in: `... | cli ... --secret-stdin`)."""
    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise ValidationError({"--secret-stdin": "standard input held no secret (one line expected)"})
    return secret


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = _json(args.json)
    for name in (
        "tenant",
        "display_name",
        "credential_mode",
        "client_id",
        "cloud",
        "sync_group_id",
        "rotation_group_id",
        "removal_behaviour",
        "credential_expires_on",
    ):
        value = getattr(args, name, None)
        if value is not None:
            body[name] = value
    if getattr(args, "ad_domain", None):
        body.update(source="ad", domain=args.ad_domain)
    if getattr(args, "allow_second_connection", None):
        body["allow_second_connection"] = True
    for name in ("rotation_interval_days", "deletion_threshold"):
        if getattr(args, name, None) is not None:
            body[name] = getattr(args, name)
    features = {k: getattr(args, k) for k in ("sync", "rotation") if getattr(args, k, None) is not None}
    if features:
        body["features"] = features
    if getattr(args, "certificate_file", None):
        body["certificate"] = Path(args.certificate_file).read_text(encoding="utf-8")
    if getattr(args, "prompt_secret", False) and getattr(args, "secret_stdin", False):
        raise ValidationError({"--secret-stdin": "use either --prompt-secret or --secret-stdin"})
    if getattr(args, "prompt_secret", False):
        body["client_secret"] = getpass.getpass("Client secret (Value): ")
    elif getattr(args, "secret_stdin", False):
        body["client_secret"] = _stdin_secret()
    return body


async def _create(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.connections import create_connection

    return await create_connection(container, _body(args))


async def _list(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.connections import list_connections

    return await list_connections(container)


async def _show(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.connections import get_connection

    return await get_connection(container, args.id)


async def _update(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.connections import update_connection

    return await update_connection(container, args.id, _body(args))


async def _delete(container: Any, args: argparse.Namespace) -> Any:
    """With --purge the purge is queued as the API does, then run here at once (the queued message then finds
    nothing left to do)."""
    from shared.domain.purge import purge_message
    from shared.services.connection_purge import run_purge_job
    from shared.services.connections import delete_connection

    _, answer = await delete_connection(container, args.id, purge=args.purge)
    if not args.purge:
        return answer
    progress = await run_purge_job(container, purge_message(answer["id"], answer["purge"]["job_id"]))
    while progress is not None and progress.phase != "done":  # continued (budget) or waiting for a running job
        if progress.phase == "waiting":
            return {"id": answer["id"], "deleted": False, "purged": False, "purge": progress.public_view()}
        progress = await run_purge_job(container, purge_message(answer["id"], progress.job_id))
    return {"id": answer["id"], "deleted": True, "purged": True, "purge": progress.public_view() if progress else None}


async def _verify(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.verification import verify_connection

    return (await verify_connection(container, args.id)).to_dict()


async def _consent_url(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.consent import consent_url

    return {"url": await consent_url(container, args.id), "expires_in_minutes": 10}


async def _invite(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.invitations import create_invitation

    body = None if args.days is None else {"expires_in_days": args.days}
    return (await create_invitation(container, args.id, body))[1]


async def _revoke_invite(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.invitations import revoke_invitation

    return (await revoke_invitation(container, args.id, args.invitation))[1]


def _fields(parser: argparse.ArgumentParser, creating: bool) -> None:
    parser.add_argument("--json", help="the request body as JSON, without secrets (flags below override its fields)")
    if creating:
        parser.add_argument("--tenant", help="tenant id (GUID) or verified domain")
        parser.add_argument(
            "--ad-domain", dest="ad_domain", help='an on-prem AD connection ("source": "ad") of this DNS domain'
        )
        parser.add_argument("--credential-mode", dest="credential_mode", choices=("admin_consent", "customer_app"))
        parser.add_argument("--client-id", dest="client_id")
        parser.add_argument("--cloud", choices=("global", "usgov", "usgov-dod", "china"))
        parser.add_argument(
            "--allow-second-connection",
            dest="allow_second_connection",
            action="store_true",
            default=None,
            help="the tenant may already have a connection (it may not rotate the same group)",
        )
    parser.add_argument("--display-name", dest="display_name")
    parser.add_argument("--prompt-secret", action="store_true", help="ask for the client secret (never an argument)")
    parser.add_argument(
        "--secret-stdin", dest="secret_stdin", action="store_true", help="read the client secret from standard input"
    )
    parser.add_argument("--certificate-file", dest="certificate_file", help="PEM with certificate and private key")
    parser.add_argument("--credential-expires-on", dest="credential_expires_on")
    parser.add_argument("--sync", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--rotation", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--sync-group-id", dest="sync_group_id")
    parser.add_argument("--rotation-group-id", dest="rotation_group_id")
    parser.add_argument("--rotation-interval-days", dest="rotation_interval_days", type=int)
    parser.add_argument("--removal-behaviour", dest="removal_behaviour", choices=("keep", "deactivate", "delete"))
    parser.add_argument("--deletion-threshold", dest="deletion_threshold", type=int)


def register(features: Any) -> None:
    parser = features.add_parser("connections", help="connect, inspect, verify and remove customer tenants")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a connection")
    _fields(create, creating=True)
    create.set_defaults(run=_create)
    commands.add_parser("list", help="list connections").set_defaults(run=_list)
    for name, run, text in (
        ("show", _show, "show one connection"),
        ("verify", _verify, "run the verification"),
        ("consent-url", _consent_url, "print the admin-consent URL (valid 10 minutes, once)"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("id")
        sub.set_defaults(run=run)
    invite = commands.add_parser("invite", help="make a consent link for the tenant's administrator (no key needed)")
    invite.add_argument("id")
    invite.add_argument("--days", type=int, help="days the link works (1-30, default 7)")
    invite.set_defaults(run=_invite)
    revoke = commands.add_parser("revoke-invite", help="revoke a consent invitation")
    revoke.add_argument("id")
    revoke.add_argument("invitation", help="the invitation id (from `invite`)")
    revoke.set_defaults(run=_revoke_invite)
    update = commands.add_parser("update", help="change a connection's settings or credential")
    update.add_argument("id")
    _fields(update, creating=False)
    update.set_defaults(run=_update)
    delete = commands.add_parser("delete", help="remove a connection and its credentials")
    delete.add_argument("id")
    delete.add_argument(
        "--purge", action="store_true", help="remove everything of it (synced data, passwords, history), here and now"
    )
    delete.set_defaults(run=_delete)
