"""CLI commands for password rotation: `rotation run ID [--user USER] [--all]` rotates now in this process (the
same service as the API, audited), `rotation status ID` shows per user the last rotation, next due date, last
outcome or skip reason and pending versions; never a password."""

from __future__ import annotations

import argparse
from typing import Any

from scripts.cli_ids import connection_id, user_id


async def _run(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.rotation_admin import rotate_now

    report = await rotate_now(container, args.connection, all=args.all, user_id=args.user)
    return report.to_dict()


async def _status(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.rotation_admin import user_status

    return await user_status(container, args.connection, args.top, args.continuation)


def register(features: Any) -> None:
    parser = features.add_parser("rotation", help="rotate passwords now, or look at the rotation state")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="rotate the due users now (or one user, or everyone with --all)")
    run.add_argument("connection", type=connection_id, help="connection id")
    which = run.add_mutually_exclusive_group()
    which.add_argument("--user", type=user_id, help="only this user (Entra object id), due or not")
    which.add_argument("--all", action="store_true", help="every user of the rotation set, due or not")
    run.set_defaults(run=_run)
    status = commands.add_parser("status", help="per user: last rotated, next due, last outcome, pending")
    status.add_argument("connection", type=connection_id, help="connection id")
    status.add_argument("--top", type=int, default=100, help="users per page (1-1000)")
    status.add_argument("--continuation", help="the continuation token of the previous page")
    status.set_defaults(run=_status)
