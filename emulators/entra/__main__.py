"""Command line: `python -m emulators.entra --port 0 --seed demo [--size N] [--tenants K]`; one JSON line when ready."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from emulators.entra.server import EntraEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.entra", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--seed", default="demo", help="seed of the synthetic data (same seed, same tenants)")
    parser.add_argument("--size", type=int, default=60, help="users per tenant")
    parser.add_argument("--tenants", type=int, default=1, help="number of tenants")
    parser.add_argument("--workdir", default=None, help="where to write the CA and app certificates (kept)")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=None,
        help="redirect URI registered on the multi-tenant app (repeatable)",
    )
    parser.add_argument(
        "--cloud",
        action="append",
        default=None,
        help="cloud of the next tenant (global, usgov, usgov-dod, china; repeatable, by tenant order)",
    )
    args = parser.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    emulator = EntraEmulator(
        seed=args.seed,
        size=args.size,
        tenants=args.tenants,
        port=args.port,
        workdir=args.workdir,
        redirect_uris=args.redirect_uri,
        clouds=args.cloud,
    )
    emulator.start()
    try:
        sys.stdout.write(json.dumps(emulator.description(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
