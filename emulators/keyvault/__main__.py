"""Command line: serve one emulated vault until SIGTERM/SIGINT, after printing one JSON line saying where it is."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from emulators.common.tls import make_loopback_tls
from emulators.keyvault.rules import CREATE_LIMIT, DELETE_DELAY_S
from emulators.keyvault.server import DEFAULT_LOGIN_URL, KeyVaultEmulator

DEFAULT_TENANT = "00000000-0000-0000-0000-00000000a11c"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulators.keyvault", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one)")
    parser.add_argument("--tenant", default=DEFAULT_TENANT, help="tenant whose tokens the vault accepts")
    keys = parser.add_mutually_exclusive_group(required=True)
    keys.add_argument("--jwks-url", help="the identity emulator's JWKS (…/{tenant}/discovery/v2.0/keys)")
    keys.add_argument("--public-key-file", help="PEM public key that signs access tokens")
    parser.add_argument("--jwks-ca-file", help="CA that signs the JWKS server's certificate")
    parser.add_argument("--login-url", default=DEFAULT_LOGIN_URL, help="authority named in the 401 challenge")
    parser.add_argument(
        "--authorized",
        action="append",
        default=None,
        help="app id or object id allowed to use the vault (repeatable; default: any valid token)",
    )
    parser.add_argument("--tls-dir", help="where to write the CA files (default: a temporary folder)")
    parser.add_argument("--page-size", type=int, default=25, help="items per list page (1-25)")
    parser.add_argument(
        "--create-limit", type=int, default=CREATE_LIMIT, help="secret creates per 10 s before 429 (0 = unlimited)"
    )
    parser.add_argument(
        "--delete-delay",
        type=float,
        default=DELETE_DELAY_S,
        help="seconds a delete takes to complete (during them the name is being deleted)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tls_dir = args.tls_dir or tempfile.mkdtemp(prefix="kv-emulator-")
    tls = make_loopback_tls(tls_dir)
    public_pem = Path(args.public_key_file).read_bytes() if args.public_key_file else None
    emulator = KeyVaultEmulator(
        tenant=args.tenant,
        public_pem=public_pem,
        jwks_url=args.jwks_url,
        jwks_ca_path=args.jwks_ca_file,
        authorized=args.authorized,
        login_url=args.login_url,
        tls=tls,
        port=args.port,
        page_size=args.page_size,
        create_limit=args.create_limit or None,
        delete_delay_s=args.delete_delay,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        with emulator:
            ready = {
                "vault_url": emulator.vault_url,
                "ca_path": tls.ca_path,
                "bundle_path": tls.bundle_path,
                "tenant": args.tenant,
            }
            sys.stdout.write(json.dumps(ready) + "\n")
            sys.stdout.flush()
            stop.wait()
    finally:
        if not args.tls_dir:
            shutil.rmtree(tls_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
