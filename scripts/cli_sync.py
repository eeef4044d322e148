"""CLI commands for directory sync: run (full / incremental / groups, dry run) with a progress display, status,
run history and approval of held-back removals. Runs in this process under the same lease as the workers."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from shared.services.directory_sync import MODES


class Progress:
    """One status line, rewritten in place on a terminal and printed every few seconds otherwise."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, phase: str, counts: dict[str, int]) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.every_s:
            return
        self.last = now
        changes = sum(n for kind, n in counts.items() if "." in kind)
        line = (
            f"[{now - self.started:6.1f}s] {phase:<8} changes {changes:>7}  Graph requests "
            f"{counts.get('graph_requests', 0):>6}  table writes {counts.get('table_writes', 0):>7}"
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


async def _run(container: Any, args: argparse.Namespace) -> dict[str, Any]:
    from shared.adapters.connection_store import load_connection
    from shared.services import audit
    from shared.services.directory_sync import SyncDeps, run_sync
    from shared.services.sync_jobs import JobMessage, run_job

    connection = await load_connection(container.tables(), args.connection)
    progress = Progress()
    deps = SyncDeps(
        graph=await container.graph_for(connection),
        tables=container.tables(),
        queues=container.queues(),
        progress=progress,
    )
    action = "sync.approve" if getattr(args, "approved", False) else "sync.start"
    try:
        if args.dry_run:
            result = await run_sync(deps, connection, mode=args.mode, dry_run=True, trigger="cli", budget_s=args.budget)
            await audit.record(deps.tables, action, connection.id, "dry_run", f"mode {args.mode} in the CLI")
            return result.to_dict()
        job = JobMessage(connection.id, args.mode, "cli", approved=getattr(args, "approved", False))
        while True:  # continue in this process until the run is done (a worker would re-queue instead)
            outcome = await run_job(deps, None, connection, job, budget_s=args.budget)
            if outcome is None:
                await audit.record(deps.tables, action, connection.id, "skipped", "another worker holds the lease")
                return {"outcome": "skipped", "reason": "another worker holds this connection's sync lease"}
            if outcome.outcome != "continued":
                await audit.record(deps.tables, action, connection.id, outcome.outcome, f"mode {args.mode} in the CLI")
                return outcome.to_dict()
    finally:
        progress.done()


async def _approve(container: Any, args: argparse.Namespace) -> dict[str, Any]:
    args.mode, args.dry_run, args.approved = "incremental", False, True
    return await _run(container, args)


async def _status(container: Any, args: argparse.Namespace) -> Any:
    from shared.services import sync_api

    return (await sync_api.status(container, args.connection))[1]


async def _runs(container: Any, args: argparse.Namespace) -> Any:
    from shared.services import sync_api

    return (await sync_api.runs(container, args.connection, args.top))[1]


def register(features: Any) -> None:
    parser = features.add_parser("sync", help="sync a connection's directory now, or look at its sync state")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="sync now, showing progress (or --dry-run to see the planned changes)")
    run.add_argument("connection", help="connection id")
    run.add_argument("--mode", choices=MODES, default="incremental")
    run.add_argument("--dry-run", action="store_true", help="plan only: write nothing")
    run.add_argument("--budget", type=float, default=480.0, help="seconds per invocation before a checkpoint")
    run.set_defaults(run=_run)
    approve = commands.add_parser("approve", help="apply removals the deletion threshold held back")
    approve.add_argument("connection")
    approve.add_argument("--budget", type=float, default=480.0)
    approve.set_defaults(run=_approve)
    status = commands.add_parser("status", help="last success, next due, state, last error")
    status.add_argument("connection")
    status.set_defaults(run=_status)
    runs = commands.add_parser("runs", help="run history, newest first")
    runs.add_argument("connection")
    runs.add_argument("--top", type=int, default=10)
    runs.set_defaults(run=_runs)
