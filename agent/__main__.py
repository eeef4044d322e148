"""The agent's command line: `register` (a one-time code -> a key pair and an identity in the state folder),
`run` (poll for jobs until stopped: the systemd unit's or Windows service's command), `once` (one poll)."""

from __future__ import annotations

import argparse
import logging
import platform
import signal
import sys
import threading

from agent import __version__
from agent.client import ServiceClient
from agent.config import AgentConfig
from agent.errors import AgentError
from agent.jobs import handlers
from agent.keys import load_identity, new_keys, public_b64, save_identity, save_keys
from agent.runner import work_once

log = logging.getLogger("agent")


def register(config: AgentConfig, code: str) -> str:
    signing, encryption = new_keys()
    with ServiceClient(config.service_url, ca_file=config.service_ca_file) as client:
        answer = client.register(
            code,
            config.name or platform.node(),
            __version__,
            public_b64(signing),
            public_b64(encryption),
            host=platform.node(),
        )
    save_keys(config.state_dir, signing, encryption)
    save_identity(config.state_dir, answer["agent_id"], answer["connection_id"], config.service_url)
    return str(answer["agent_id"])


def run(config: AgentConfig, *, once: bool = False, wait_s: int = 20) -> int:
    identity = load_identity(config.state_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ServiceClient(identity.service_url, ca_file=config.service_ca_file) as client:
        while not stop.is_set():
            try:
                work_once(client, identity, handlers(config), 0 if once else wait_s, **config.run_options())
            except AgentError as exc:
                log.error("%s: %s", exc.code, exc.message)
                if once:
                    return 1
                stop.wait(10)
            if once:
                break
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent", description="On-prem AD agent of the Entra connector")
    parser.add_argument("--config", required=True, help="the agent's JSON configuration file")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register with a one-time code from the connector")
    reg.add_argument("--code", required=True)
    sub.add_parser("run", help="poll for jobs until stopped (service / systemd unit)")
    sub.add_parser("once", help="poll once, run the job if there is one")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = AgentConfig.load(args.config)
        if args.command == "register":
            print(f"registered as agent {register(config, args.code)}")
            return 0
        return run(config, once=args.command == "once")
    except AgentError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
