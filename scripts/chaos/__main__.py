"""`make chaos [SEED=...] [MINUTES=...]`: run the reliability suite for about MINUTES (default 10), print the seed
first and the report last, write docs/reliability.md; exit 1 when any invariant was violated."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
import traceback
from pathlib import Path

from emulators.stack import start_local_stack
from scripts.chaos.report import page, render
from scripts.chaos.storage import Storage
from scripts.chaos.suite import Suite

REPO = Path(__file__).resolve().parents[2]


async def _rounds(suite: Suite, minutes: float, rounds: int | None) -> None:
    await suite.setup()
    try:
        deadline = time.monotonic() + minutes * 60
        index = 0
        while (rounds is None and time.monotonic() < deadline) or (rounds is not None and index < rounds):
            try:
                result = await suite.round(index)
            except Exception:  # noqa: BLE001 (a round the harness could not finish ends the run, reported)
                traceback.print_exc()
                suite.crashed = f"round {index} could not finish: {traceback.format_exc(limit=1).splitlines()[-1]}"
                return
            print(f"round {index} ({result.seed}): {result.kills} kills, {len(result.violations)} violations, "
                  f"{result.events} events, {result.seconds} s", flush=True)  # fmt: skip
            for violation in result.violations:
                print(f"  VIOLATION {violation}", flush=True)
            index += 1
    finally:
        await suite.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", default="", help="replay this run (default: a new random seed)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=None, help="a fixed number of rounds instead of --minutes")
    parser.add_argument("--round-seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--report", default=str(REPO / "docs" / "reliability.md"))
    parser.add_argument("--keep", default="", help="keep the worker logs and Azurite's data in this folder")
    args = parser.parse_args(argv)
    seed = args.seed or secrets.token_hex(4)
    print(f"chaos seed {seed} (replay: make chaos SEED={seed})", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-") as scratch:
        tmp = args.keep or scratch
        storage = Storage(Path(tmp))
        storage.start()
        try:
            with start_local_stack(seed=f"chaos-{seed}", size=40, tenants=1, azurite=storage.ports) as stack:
                suite = Suite(stack, storage, Path(tmp), seed, args.connections, args.round_seconds)
                asyncio.run(_rounds(suite, args.minutes, args.rounds))
        finally:
            storage.stop()
    seconds = time.monotonic() - began
    text = render(
        seed, suite.results, minutes=args.minutes, restarts=storage.restarts, seconds=seconds, crashed=suite.crashed
    )
    report = Path(args.report)
    report.write_text(page(text, report.read_text() if report.exists() else None))
    print(text)
    return 1 if suite.crashed or any(r.violations for r in suite.results) else 0


if __name__ == "__main__":
    sys.exit(main())
