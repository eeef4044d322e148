"""Command-line entry point: `python -m scripts.cli <feature> <command> ...`; each feature module registers itself."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

# Feature modules: each has register(subparsers) adding its commands; a command sets `run(container, args)`.
FEATURES: tuple[str, ...] = (
    "scripts.cli_connections",
    "scripts.cli_sync",
    "scripts.cli_rotation",
    "scripts.cli_audit",
    "scripts.cli_agents",
)

Runner = Callable[[Any, argparse.Namespace], Coroutine[Any, Any, Any]]


def environment(settings_file: str | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment, filled in (never overridden) from local.settings.json's Values; `none`: the
    environment alone (against a real deployment, so no local emulator setting or secret slips in)."""
    env = dict(os.environ if environ is None else environ)
    if settings_file == "none":
        return env
    path = Path(settings_file or "local.settings.json")
    if path.is_file():
        values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
        for name, value in values.items():
            env.setdefault(name, str(value))
    return env


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="python -m scripts.cli", description="Entra ID connector administration")
    parser.add_argument(
        "--settings",
        help="a local.settings.json to read settings from (default: ./local.settings.json; none: the environment only)",
    )
    features = parser.add_subparsers(dest="feature", required=True)
    for module in FEATURES:
        importlib.import_module(module).register(features)
    return parser


async def _run(run: Runner, args: argparse.Namespace, env: Mapping[str, str]) -> Any:
    import getpass

    from shared.client_pool import close_pool
    from shared.composition import Container
    from shared.config import load_settings
    from shared.services.audit import acting_as

    try:
        try:
            who = f"cli user {getpass.getuser()}"
        except (OSError, KeyError):  # no user name in the environment or the password database
            who = "cli"
        with acting_as(who):
            async with Container(load_settings(env)) as container:
                return await run(container, args)
    finally:
        await close_pool()  # the pooled clients belong to this asyncio.run's loop


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    from shared.errors import ConnectorError

    args = build_parser().parse_args(argv)
    try:
        result = asyncio.run(_run(args.run, args, environment(args.settings, environ)))
    except ConnectorError as exc:
        print(json.dumps(exc.to_dict(), indent=2), file=sys.stderr)
        return 1 if exc.http_status < 500 else 2
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
