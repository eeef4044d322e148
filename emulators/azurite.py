"""Azurite (the npm package pinned in package.json) in memory on loopback: free ports for tests and the demo, its
default ports (10000-10002, what `UseDevelopmentStorage=true` means) for `make local`. With `location`, it keeps
its data on disk there instead, so a restart on the same ports finds it again (the reliability suite)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emulators.common.processes import free_port, port_answers, running, wait_until

REPO = Path(__file__).resolve().parents[1]
ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key (not a secret).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )


def azurite_binary() -> str:
    path = REPO / "node_modules" / ".bin" / "azurite"
    if not path.exists():
        raise RuntimeError(
            f"Azurite is not installed at {path}: run `npm ci` in {REPO} (make test and make demo do this)"
        )
    return str(path)


@contextlib.contextmanager
def start_azurite(
    log_dir: str | None = None, ports: Azurite | None = None, location: str | None = None
) -> Iterator[Azurite]:
    """Start Azurite in memory (or persisted in `location`) on the given ports (default: free ones); wait until
    every service answers; stop it on exit."""
    binary = azurite_binary()
    if shutil.which("node") is None:
        raise RuntimeError("Azurite needs Node.js, and `node` is not on PATH")
    ports = ports or Azurite(free_port(), free_port(), free_port())
    workdir = tempfile.mkdtemp(prefix="azurite-")
    log_path = os.path.join(log_dir or workdir, "azurite.log")
    args = [
        binary,
        "--silent",
        *(["--location", location] if location else ["--inMemoryPersistence"]),
        "--skipApiVersionCheck",
        "--disableProductStyleUrl",
        "--blobHost",
        "127.0.0.1",
        "--queueHost",
        "127.0.0.1",
        "--tableHost",
        "127.0.0.1",
        "--blobPort",
        str(ports.blob_port),
        "--queuePort",
        str(ports.queue_port),
        "--tablePort",
        str(ports.table_port),
    ]
    try:
        with running(args, cwd=workdir, log_path=log_path) as proc:
            try:
                wait_until(
                    lambda: all(port_answers(p) for p in (ports.blob_port, ports.queue_port, ports.table_port)),
                    timeout_s=30,
                    what="Azurite",
                    proc=proc,
                )
            except RuntimeError as exc:
                log = Path(log_path).read_text(errors="replace")[-2000:] if os.path.exists(log_path) else ""
                raise RuntimeError(f"{exc}; its log ends with:\n{log}") from exc
            yield ports
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
