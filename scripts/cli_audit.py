"""CLI commands for the audit trail: `audit list ID` (one connection) and `audit all` (the deployment), newest first."""

from __future__ import annotations

import argparse
from typing import Any

from scripts.cli_ids import connection_id


async def _list(container: Any, args: argparse.Namespace) -> Any:
    from shared.services import audit

    return await audit.page(container.tables(), args.connection, args.top, args.continuation)


def register(features: Any) -> None:
    parser = features.add_parser("audit", help="who did what, when, with what outcome (newest first)")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("list", help="a connection's audit trail (also after it was deleted)")
    one.add_argument("connection", type=connection_id, help="connection id")
    every = commands.add_parser("all", help="every action of the deployment")
    every.set_defaults(connection=None)
    for sub in (one, every):
        sub.add_argument("--top", type=int, choices=range(1, 101), metavar="1-100", default=50)
        sub.add_argument("--continuation", help="the continuation token of the previous page")
        sub.set_defaults(run=_list)
