"""CLI commands for on-prem AD agents: `agents code ID` (a one-time registration code), `agents list ID` (status,
last contact), `agents remove ID AGENT` (its requests refused from now on)."""

from __future__ import annotations

import argparse
from typing import Any

from scripts.cli_ids import connection_id


async def _code(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.agent_registry import create_code

    _, body = await create_code(container, args.connection, {"expires_in_minutes": args.minutes})
    return body


async def _list(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.agent_registry import list_agents

    _, body = await list_agents(container, args.connection)
    return body


async def _remove(container: Any, args: argparse.Namespace) -> Any:
    from shared.services.agent_registry import remove_agent

    _, body = await remove_agent(container, args.connection, args.agent.lower())
    return body


def register(features: Any) -> None:
    parser = features.add_parser("agents", help="on-prem AD agents of a connection")
    commands = parser.add_subparsers(dest="command", required=True)
    code = commands.add_parser("code", help="a one-time registration code for a new agent (shown once)")
    code.add_argument("connection", type=connection_id, help="connection id")
    code.add_argument("--minutes", type=int, default=60, help="how long the code is valid (5-10080, default 60)")
    code.set_defaults(run=_code)
    listed = commands.add_parser("list", help="the connection's agents: status and last contact")
    listed.add_argument("connection", type=connection_id, help="connection id")
    listed.set_defaults(run=_list)
    remove = commands.add_parser("remove", help="unregister an agent: its requests are refused from now on")
    remove.add_argument("connection", type=connection_id, help="connection id")
    remove.add_argument("agent", help="agent id")
    remove.set_defaults(run=_remove)
