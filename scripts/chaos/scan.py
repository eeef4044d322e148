"""What the leak scan reads after a round: every log record of every worker process, every table row, every queue
message left (job, poison and change-feed queues: the events were read by the round's check), the responses of
the status, run history and rotation APIs, and the secrets and passwords to look for."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared import storage_names as names
from shared.composition import Container
from shared.domain.secret_names import password_name
from shared.errors import SecretNotFound


def log_texts(paths: Iterable[Path], offsets: dict[Path, int]) -> list[tuple[str, str]]:
    """New lines of the workers' JSON-lines logs since the last scan (offsets are kept per file)."""
    out = []
    for path in paths:
        if not path.exists():
            continue
        with path.open("rb") as handle:
            handle.seek(offsets.get(path, 0))
            data = handle.read()
        offsets[path] = offsets.get(path, 0) + len(data)
        out += [(f"log {path.name}", line) for line in data.decode("utf-8", "replace").splitlines()]
    return out


def log_records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # the line a SIGKILL cut short
    return records


async def table_texts(container: Container) -> list[tuple[str, str]]:
    tables = container.tables()
    out = []
    for table in names.TABLES:
        try:
            rows = [dict(r) async for r in tables.query(table)]
        except Exception:  # noqa: BLE001, S112 (a table never created holds nothing)
            continue
        out += [(f"table {table}", json.dumps(row, default=str, sort_keys=True)) for row in rows]
    return out


async def queue_texts(connection_string: str) -> list[tuple[str, str]]:
    from azure.storage.queue.aio import QueueServiceClient

    out = []
    async with QueueServiceClient.from_connection_string(connection_string) as service:
        async for queue in service.list_queues():
            client = service.get_queue_client(queue.name)
            try:
                messages = await client.peek_messages(max_messages=32)
            except Exception:  # noqa: BLE001, S112 (a queue deleted meanwhile)
                continue
            out += [(f"queue {queue.name}", str(m.content)) for m in messages]
    return out


async def passwords(container: Container, entra: Any, tid: str, cid: str, user_ids: Iterable[str]) -> set[str]:
    """Every password the suite must never find: Entra's current ones and every version Key Vault holds."""
    found: set[str] = set()
    secrets = container.secrets()
    for uid in user_ids:
        with_entra = entra.get_password(tid, uid)
        if with_entra:
            found.add(with_entra)
        try:
            versions = await secrets.versions(password_name(cid, uid))
        except SecretNotFound:
            continue
        for version in (v for v in versions if v.enabled):  # a disabled version cannot be read (nor leak from here)
            found.add((await secrets.get(password_name(cid, uid), version.version)).value.reveal())
    return found
